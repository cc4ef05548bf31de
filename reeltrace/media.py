"""Media stage: open containers with PyAV, read what they hold, sample frames at a fixed rate.

Everything that can go wrong with an input file surfaces here as ``MediaError`` with a
one-line message, so callers can report it and go on with the rest of a batch.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from .records import MediaInfo

ANALYSIS_LONG_SIDE = 448
"""Frames are scaled (aspect kept) so their longer side is this many pixels before analysis.
Large enough that a picture-in-picture window or the 16:9 band of a vertical repost still
has ~200 px to embed; small enough that scaling and region detection cost little."""

MEDIA_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .flv .ts .m2ts .mts .mpg .mpeg .wmv .3gp .ogv "
    ".wav .flac .mp3 .ogg .oga .opus .m4a .aac .wma".split()
)
"""File types picked up when a folder is walked (files named explicitly are always tried)."""


TEXT_DEMUXERS = frozenset({"tty"})
"""FFmpeg demuxers that turn any text file into a 'video' (ANSI art): not media to us."""


class MediaError(Exception):
    """An input that cannot be used; ``str(err)`` is a one-line message for the user."""


@dataclass(frozen=True)
class SampledFrame:
    time: float  # seconds from the start of the video stream
    rgb: np.ndarray  # (h, w, 3) uint8 at analysis size


def _one_line(err: BaseException) -> str:
    # FFmpeg errors repeat the errno and the file name; keep the reason.
    text = getattr(err, "strerror", None) or str(err)
    text = " ".join(str(text).split())
    return text[:300] or type(err).__name__


def _open(path: str) -> av.container.InputContainer:
    if not os.path.exists(path):
        raise MediaError("file not found")
    if os.path.isdir(path):
        raise MediaError("is a folder, not a media file")
    if os.path.getsize(path) == 0:
        raise MediaError("empty file")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise MediaError(f"not a readable media file ({_one_line(err)})") from None
    if container.format.name in TEXT_DEMUXERS:
        container.close()
        raise MediaError("not a media file (text)")
    return container


def _stream_duration(container, stream) -> float:
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
    """Read a file's header: duration and which streams it has. Raises MediaError."""
    with _open(path) as container:
        video = picture_stream(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError("no video or audio stream")
        duration = _stream_duration(container, video if video is not None else audio)
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


def analysis_size(width: int, height: int, long_side: int = ANALYSIS_LONG_SIDE) -> tuple[int, int]:
    """(w, h) with the longer side scaled to ``long_side``, both even, aspect kept."""
    scale = long_side / max(width, height, 1)
    if scale > 1:
        scale = 1.0
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def sample_frames(path: str, fps: float) -> Iterator[SampledFrame]:
    """Yield one frame per 1/fps seconds of the video stream, scaled to analysis size.

    Every frame is decoded (frame-threaded): seeking would be slower than decoding at the
    rates we sample, and keyframes alone are too sparse to localise to a second.
    Raises MediaError for files without video, undecodable streams and truncated files.
    """
    container = _open(path)
    try:
        stream = picture_stream(container)
        if stream is None:
            raise MediaError("no video stream")
        stream.thread_type = "AUTO"
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise MediaError("video stream has no picture size")
        expected = _stream_duration(container, stream)
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        step = 1.0 / fps
        next_time = 0.0
        last_time = -1.0
        size = None
        emitted = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    t = last_time + 1.0 / 25 if last_time >= 0 else 0.0
                else:
                    t = float(frame.pts * frame.time_base) - start
                if t < next_time - 1e-6:
                    continue
                if size is None:
                    size = analysis_size(frame.width, frame.height)
                rgb = frame.to_ndarray(width=size[0], height=size[1], format="rgb24")
                rotation = getattr(frame, "rotation", 0) or 0
                if rotation % 360:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=int(round(rotation / 90)) % 4))
                yield SampledFrame(max(t, 0.0), rgb)
                emitted += 1
                last_time = t
                while next_time <= t + 1e-6:
                    next_time += step
        except av.error.FFmpegError as err:
            raise MediaError(f"corrupt video stream after {max(last_time, 0):.1f} s ({_one_line(err)})") from None
        if emitted == 0:
            raise MediaError("video stream has no decodable frames")
        if expected > 2.0 and last_time + step < expected * 0.95 - 1.0:
            raise MediaError(f"truncated or corrupt: decoded {last_time + step:.1f} s of {expected:.1f} s")
    finally:
        container.close()


def file_hash(path: str) -> str:
    """SHA-256 of the file's bytes: identifies the same content registered twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
