"""A live source cut into chunks: the packets of its first picture and first sound stream
remuxed (stream copy: no decode, no encode) into MPEG-TS files of about ``hop`` seconds,
each cut at a picture keyframe so that it decodes on its own.

MPEG-TS files concatenate byte for byte (HLS plays its segments so), so a window of the
last chunks is one file that ``Library.scan`` reads like any other. Chunk times are on the
watch's own clock (``Chunk.start``: seconds of stream read before it), not the source's
timestamps: a timestamp jump or a reconnect starts a new ``run``, and windows never join
chunks of two runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import av

from .playlists import HOLD_RELOADS, is_hls

JUMP_SECONDS = 5.0
"""A packet whose timestamp is this far from the last one's is a discontinuity (a new run)."""


@dataclass(frozen=True)
class Chunk:
    path: str
    run: int  # chunks of one run have continuous source timestamps
    start: float  # seconds on the watch's clock
    duration: float
    received: float = 0.0  # when its last packet came (time.monotonic): the stream's last sign of life


def is_url(source: str) -> bool:
    """A URL the watch opens as a network source; anything else (``file:`` too) is a file."""
    return "://" in source and not source.startswith("file:")


def open_source(source: str, timeout_s: float, start_segment: int | None = None) -> av.container.InputContainer:
    """The source opened for reading as it plays: a URL (HLS, RTMP, RTSP, SRT, UDP, HTTP) with
    a read timeout, or a local file followed as it grows (FFmpeg's ``follow``) until no byte
    has come for ``timeout_s``. An HLS playlist ends after ``playlists.HOLD_RELOADS``
    reloads without a new segment, and is read from its ``start_segment``-th last segment
    when one is given (``playlists``)."""
    timeout_us = str(int(timeout_s * 1e6))
    if is_url(source):
        options = {"rw_timeout": timeout_us, "timeout": timeout_us}
        if is_hls(source):
            options["m3u8_hold_counters"] = str(HOLD_RELOADS)
            if start_segment is not None:
                options["live_start_index"] = str(-start_segment)
        return av.open(source, options=options, timeout=timeout_s)
    path = source[5:] if source.startswith("file:") else source
    return av.open(f"file:{path}", options={"follow": "1", "rw_timeout": timeout_us}, timeout=timeout_s)


def cut_chunks(container: av.container.InputContainer, folder: str, hop: float, clock: float = 0.0,
               run: int = 0) -> Iterator[Chunk]:  # fmt: skip
    """Chunks of ``container``'s first picture and sound streams, as they arrive, written in
    ``folder``; the first starts at ``clock`` on the watch's clock, in ``run``."""
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    streams = [s for s in (video, audio) if s is not None]
    if not streams:
        raise av.error.ValueError(0, "no picture or sound stream")
    lead = video or audio  # the stream whose timestamps and keyframes cut chunks
    yield from _cut(container, folder, hop, clock, run, streams, video, lead)


class SourceBroken(Exception):
    """Reading stopped on an error or a timeout (the chunk being written is lost): for a URL a
    drop to reconnect after, for a followed file the end of what its writer wrote."""


def _cut(container, folder, hop, clock, run, streams, video, lead) -> Iterator[Chunk]:
    writer: _ChunkWriter | None = None
    last = None
    number = 0
    broken = None
    packets = container.demux(streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as err:
            broken = err
            break
        if packet.dts is None or packet.pts is None or packet.size == 0:
            continue
        at = float(packet.pts * packet.time_base)
        if packet.stream is lead:
            jumped = last is not None and abs(at - last) > JUMP_SECONDS
            if writer is not None and (jumped or (at - writer.first >= hop and (video is None or packet.is_keyframe))):
                # A chunk lasts until the next one begins. Taken from the last packet instead,
                # it lost a frame a chunk wherever B-frames put that packet before the last
                # frame shown: the clock fell 0.8% behind the stream (1.1 s in 177 s).
                done = writer.close(writer.latest + writer.frame if jumped else at)
                clock += done.duration
                yield done
                writer = None
                if jumped:
                    run += 1
            last = at
            if writer is None:
                if video is not None and not packet.is_keyframe:
                    continue  # a chunk starts at a keyframe
                writer = _ChunkWriter(os.path.join(folder, f"chunk-{run:04d}-{number:06d}.ts"), streams, run, clock, at)
                number += 1
            writer.latest = max(writer.latest, at)
        if writer is not None and packet.pts * packet.time_base >= writer.first - 0.5:
            writer.mux(packet)
    if writer is not None and last is not None:
        yield writer.close(writer.latest + writer.frame)
    if broken is not None:
        raise SourceBroken(str(broken))


class _ChunkWriter:
    def __init__(self, path: str, streams: list, run: int, clock: float, first: float):
        self.path, self.run, self.clock, self.first = path, run, clock, first
        self.latest = first  # the latest picture (or sound) time muxed: frames come in decode order
        self.received = time.monotonic()
        self.out = av.open(path, "w", format="mpegts")
        self.map = {s.index: self.out.add_stream_from_template(s) for s in streams}
        self.frame = 1.0 / float(streams[0].average_rate) if getattr(streams[0], "average_rate", None) else 0.0

    def mux(self, packet) -> None:
        packet.stream = self.map[packet.stream.index]
        self.out.mux(packet)
        self.received = time.monotonic()

    def close(self, end: float) -> Chunk:
        """The chunk, lasting until ``end`` (source time)."""
        self.out.close()
        return Chunk(self.path, self.run, self.clock, max(end - self.first, 0.0), self.received)


def join(chunks: list[Chunk], path: str) -> str:
    """The chunks as one MPEG-TS file at ``path`` (byte concatenation)."""
    with open(path + ".partial", "wb") as out:
        for chunk in chunks:
            with open(chunk.path, "rb") as fh:
                out.write(fh.read())
    os.replace(path + ".partial", path)
    return path
