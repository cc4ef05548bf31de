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
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import av

from .playlists import HOLD_RELOADS, is_hls

JUMP_SECONDS = 5.0
"""A packet whose timestamp is this far from the last one's is a discontinuity (a new run)."""

PAUSE_SECONDS = 0.3
"""An HLS reader that got no packet for this long has read every segment published: it
waits at the live edge for the next one. FFmpeg reads a segment as fast as the network
gives it, so the gaps inside a segment are milliseconds and the wait between two is most
of a segment's length. A chunk of at least ``hop`` seconds is closed at that pause instead
of when the next segment's first packet comes: that packet is a segment later, and every
``end`` event waited for it (the live benchmark's end p95 was 10.7 s after the segment
with it, docs/live.md). FFmpeg gives a segment's last frame only with the next segment's
first bytes (an MPEG-TS packet is complete when the next begins), so such a chunk lacks
that frame; the next chunk starts on the clock where its own first frame is."""


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
               run: int = 0, segmented: bool = False) -> Iterator[Chunk]:  # fmt: skip
    """Chunks of ``container``'s first picture and sound streams, as they arrive, written in
    ``folder``; the first starts at ``clock`` on the watch's clock, in ``run``. A
    ``segmented`` source (HLS: each segment starts at a keyframe) is read ahead in a
    thread, and a chunk also closes when the reader pauses between two segments
    (``PAUSE_SECONDS``)."""
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    streams = [s for s in (video, audio) if s is not None]
    if not streams:
        raise av.error.ValueError(0, "no picture or sound stream")
    lead = video or audio  # the stream whose timestamps and keyframes cut chunks
    packets = _read_ahead(container, streams) if segmented else _read(container, streams)
    yield from _cut(packets, folder, hop, clock, run, streams, video, lead)


class SourceBroken(Exception):
    """Reading stopped on an error or a timeout (the chunk being written is lost): for a URL a
    drop to reconnect after, for a followed file the end of what its writer wrote."""


_PAUSE = object()
"""What a read-ahead reader yields for a pause (no packet for ``PAUSE_SECONDS``)."""


def _read(container, streams) -> Iterator:
    """(packet, when it came) in the order the demuxer gives them."""
    for packet in container.demux(streams):
        yield packet, time.monotonic()


def _read_ahead(container, streams) -> Iterator:
    """``_read``, from a thread, with ``_PAUSE`` whenever no packet came for
    ``PAUSE_SECONDS``. The queue is bounded (a window's scan that falls behind holds the
    reader up, as without the thread); the thread has ended when the iterator closes, so
    that the caller may close the container."""
    items: queue.Queue = queue.Queue(1024)
    done = threading.Event()

    def give(item) -> bool:
        while not done.is_set():
            try:
                items.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in _read(container, streams):
                if not give(item):
                    return
            give(StopIteration())
        except Exception as err:  # noqa: BLE001 - raised in the reading thread, handed to the cutter's
            give(err)

    reader = threading.Thread(target=read, name="reeltrace-watch-reader", daemon=True)
    reader.start()
    try:
        while True:
            try:
                item = items.get(timeout=PAUSE_SECONDS)
            except queue.Empty:
                yield _PAUSE
                continue
            if isinstance(item, StopIteration):
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        done.set()
        reader.join()  # a read in progress ends within the source's read timeout


def _cut(packets, folder, hop, clock, run, streams, video, lead) -> Iterator[Chunk]:
    writer: _ChunkWriter | None = None
    last = None
    ended = None  # the source time the last chunk of this run ended at
    number = 0
    broken = None
    waiting: deque = deque(maxlen=256)  # sound that came before the picture's keyframe that starts the next chunk
    while True:
        try:
            item = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as err:
            broken = err
            break
        if item is _PAUSE:
            if writer is not None and writer.latest + writer.frame - writer.first >= hop:
                ended = writer.latest + writer.frame
                done = writer.close(ended)
                clock += done.duration
                yield done
                writer = None
            continue
        packet, came = item
        if packet.dts is None or packet.pts is None or packet.size == 0:
            continue
        at = float(packet.pts * packet.time_base)
        if packet.stream is lead:
            jumped = last is not None and abs(at - last) > JUMP_SECONDS
            if writer is not None and (jumped or (at - writer.first >= hop and (video is None or packet.is_keyframe))):
                # A chunk lasts until the next one begins. Taken from the last packet instead,
                # it lost a frame a chunk wherever B-frames put that packet before the last
                # frame shown: the clock fell 0.8% behind the stream (1.1 s in 177 s).
                ended = writer.latest + writer.frame if jumped else at
                done = writer.close(ended)
                clock += done.duration
                yield done
                writer = None
                if jumped:
                    run += 1
                    ended = None
            last = at
            if writer is None:
                if video is not None and not packet.is_keyframe:
                    continue  # a chunk starts at a keyframe
                if ended is not None and at > ended:
                    clock += at - ended  # frames skipped to this keyframe still aired
                writer = _ChunkWriter(os.path.join(folder, f"chunk-{run:04d}-{number:06d}.ts"), streams, run, clock, at)
                number += 1
                for early, early_came in waiting:
                    if early.pts * early.time_base >= at - 0.5:
                        writer.mux(early, early_came)
                waiting.clear()
            writer.latest = max(writer.latest, at)
        if writer is None:
            waiting.append((packet, came))  # after a pause, the next segment's sound may come before its picture
        elif packet.pts * packet.time_base >= writer.first - 0.5:
            writer.mux(packet, came)
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

    def mux(self, packet, came: float) -> None:
        packet.stream = self.map[packet.stream.index]
        self.out.mux(packet)
        self.received = came

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
