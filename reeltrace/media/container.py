"""Media stage: open containers with PyAV and read what they hold.

Everything that can go wrong with an input file surfaces here as ``MediaError`` with a
one-line message, so callers can report it and go on with the rest of a batch.
"""

from __future__ import annotations

import hashlib
import os
import av

from ..records import MediaInfo

MEDIA_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .flv .ts .m2ts .mts .mpg .mpeg .wmv .3gp .ogv "
    ".wav .flac .mp3 .ogg .oga .opus .m4a .aac .wma".split()
)
"""File types picked up when a folder is walked (files named explicitly are always tried)."""


TEXT_DEMUXERS = frozenset({"tty"})
"""FFmpeg demuxers that turn any text file into a 'video' (ANSI art): not media to us."""


class MediaError(Exception):
    """An input that cannot be used; ``str(err)`` is a one-line message for the user."""


def unexpected(err: Exception, what: str = "unreadable media file") -> MediaError:
    """A MediaError for an exception that no check foresaw (a damaged header can leave PyAV
    objects half-built, and any of their attributes may then be None). Its type is kept in
    the message: it is the input's error, and the type says where to look if it is ours."""
    return MediaError(f"{what} ({type(err).__name__}: {one_line(err)})")


def one_line(err: BaseException) -> str:
    # FFmpeg errors repeat the errno and the file name; keep the reason.
    text = getattr(err, "strerror", None) or str(err)
    text = " ".join(str(text).split())
    return text[:300] or type(err).__name__


def open_media(path: str) -> av.container.InputContainer:
    if not os.path.exists(path):
        raise MediaError("file not found")
    if os.path.isdir(path):
        raise MediaError("is a folder, not a media file")
    if os.path.getsize(path) == 0:
        raise MediaError("empty file")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise MediaError(f"not a readable media file ({one_line(err)})") from None
    except Exception as err:
        raise unexpected(err, "not a readable media file") from None
    if container.format.name in TEXT_DEMUXERS:
        container.close()
        raise MediaError("not a media file (text)")
    return container


def stream_duration(container, stream) -> float:
    if stream is not None and stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def picture_stream(container):
    """The first video stream that is moving picture, or None. Cover art embedded in music
    files (mp3, ogg, m4a) is a video stream flagged as an attached picture: one still,
    not the file's content, so such a file is audio."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def probe(path: str) -> MediaInfo:
    """Read a file's header: duration and which streams it has. Raises MediaError, and
    only MediaError: whatever a damaged header makes PyAV raise is this input's error."""
    try:
        return _probe(path)
    except MediaError:
        raise
    except Exception as err:
        raise unexpected(err) from None


def _probe(path: str) -> MediaInfo:
    with open_media(path) as container:
        video = picture_stream(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError("no video or audio stream")
        # A stream whose sample description FFmpeg could not read (a damaged 'stbl' box)
        # has no codec, hence no codec context. A picture we cannot decode is fatal, as
        # when decoding fails later; a sound we cannot decode is dropped, as a sound track
        # that fails to decode is (Library._fingerprint), unless it is all there is.
        if video is not None and video.codec_context is None:
            raise MediaError("video stream has no known codec (damaged or unsupported)")
        if audio is not None and audio.codec_context is None:
            if video is None:
                raise MediaError("audio stream has no known codec (damaged or unsupported)")
            audio = None
        duration = stream_duration(container, video if video is not None else audio)
        if video is None:
            return MediaInfo(path, duration, False, True)
        rate = video.average_rate or video.guessed_rate
        return MediaInfo(
            path,
            duration,
            True,
            audio is not None,
            video.codec_context.width,
            video.codec_context.height,
            float(rate) if rate else 0.0,
        )


def file_hash(path: str) -> str:
    """SHA-256 of the file's bytes: identifies the same content registered twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expand_paths(paths: list[str], suffixes: frozenset[str] = MEDIA_SUFFIXES) -> list[str]:
    """Files as named, and files with ``suffixes`` found by walking named folders (sorted, no hidden)."""
    out: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            out.extend(walk_media(path, suffixes=suffixes))
        else:
            out.append(path)
    return out


def walk_media(root: str, limit: int | None = None, suffixes: frozenset[str] = MEDIA_SUFFIXES) -> list[str]:
    """Media files under ``root`` by suffix, sorted, hidden files and folders skipped;
    at most ``limit``."""
    out: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in suffixes:
                out.append(os.path.join(folder, name))
                if limit is not None and len(out) >= limit:
                    return out
    return out
