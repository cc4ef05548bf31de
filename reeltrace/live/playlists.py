"""HLS playlists read directly, for what FFmpeg's demuxer does not say: whether a playlist
that stopped delivering has ended (``#EXT-X-ENDLIST``) or is live and stalled, and where
to resume it so that no segment is read twice.

FFmpeg ends a live playlist that has not grown for ``HOLD_RELOADS`` reloads as if it had
ended. Reopened as it is by default, it would start three segments from the live edge and
replay what the watch has already read: on the stream clock those seconds would air
twice, and a work in them would start a second reuse. So the watch keeps the playlist as
it was when reading stopped, waits until segments it did not hold appear, and reopens
with ``live_start_index`` at the first of them.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

HOLD_RELOADS = 10
"""Reloads of a live playlist without its next segment before FFmpeg ends it. FFmpeg
reloads every half target duration while it waits, and counts every such reload, also the
ones of a normal wait at the live edge: at 3, a real-time sliding-window playlist
(``ffmpeg -re ... -f hls``, 2 s segments) was ended every few minutes while it grew, and
each false stall ended the reuse on air. At 10 a stall is noticed after about five target
durations (10 s for 2 s segments; FFmpeg's default, 1,000, held a stalled stream for
minutes with no event); a playlist that was only late is reopened at its new segments,
and nothing is lost."""

MAX_BYTES = 1 << 20
"""The most of a playlist read: a live playlist lists a few dozen segments."""


@dataclass(frozen=True)
class Playlist:
    """A media playlist's segment URIs (absolute, in order) and whether it has ended."""

    segments: tuple[str, ...]
    ended: bool

    def new_since(self, before: Playlist) -> int:
        """How many of this playlist's segments ``before`` did not list (all come after them)."""
        seen = set(before.segments)
        return sum(1 for s in self.segments if s not in seen)


def is_hls(source: str) -> bool:
    """An HTTP(S) URL of an HLS playlist (its path ends in .m3u8)."""
    parts = urlsplit(source)
    return parts.scheme.lower() in ("http", "https") and parts.path.lower().endswith(".m3u8")


def read_playlist(url: str, timeout: float) -> Playlist:
    """The media playlist at ``url``; for a master playlist, that of its first variant (the
    one whose streams the watch reads first). Raises OSError (or ValueError for a body that
    is not a playlist) as urllib does."""
    text = _fetch(url, timeout)
    variant = _first_variant(text)
    if variant is not None:
        url = urljoin(url, variant)
        text = _fetch(url, timeout)
    return parse(text, url)


def parse(text: str, url: str) -> Playlist:
    if not text.lstrip().startswith("#EXTM3U"):
        raise ValueError("not an HLS playlist")
    segments, ended = [], False
    for line in (raw.strip() for raw in text.splitlines()):
        if line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            segments.append(urljoin(url, line))
    return Playlist(tuple(segments), ended)


def _first_variant(text: str) -> str | None:
    lines = [raw.strip() for raw in text.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF"):
            return next((uri for uri in lines[i + 1 :] if uri and not uri.startswith("#")), None)
    return None


def _fetch(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s) only: is_hls)
        return response.read(MAX_BYTES).decode("utf-8", "replace")
