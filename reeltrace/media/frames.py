"""Frame sampling: one picture every 1/fps seconds of the video stream, at analysis size."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from .container import MediaError, one_line, open_media, picture_stream, stream_duration, unexpected
from .limits import NO_BUDGET, Budget


@dataclass(frozen=True)
class SampledFrame:
    time: float  # seconds from the start of the video stream
    rgb: np.ndarray  # (h, w, 3) uint8 at analysis size


def analysis_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(w, h) with the longer side scaled to ``long_side``, both even, aspect kept."""
    scale = long_side / max(width, height, 1)
    if scale > 1:
        scale = 1.0
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def sample_frames(path: str, fps: float, long_side: int, budget: Budget = NO_BUDGET,
                  first: float = 0.0) -> Iterator[SampledFrame]:  # fmt: skip
    """Yield one frame per 1/fps seconds of the video stream, scaled (aspect kept, never
    up) so that its longer side is ``long_side`` pixels (``ViewParams.analysis_long_side``).

    Every reference frame is decoded (frame-threaded): seeking would be slower than decoding
    at the rates we sample, and keyframes alone are too sparse to localise to a second. The
    decoder skips frames that no other frame references (``skip_frame = NONREF``: most
    B-frames), which nothing else needs: decoding the film costs 18 CPU s instead of 32
    (BENCHMARKS.md), and a sampled instant moves to the next kept frame, at most two or
    three frames (0.125 s at 24 fps) later. Where the kept frames are sparser than half a
    sampling step (a stream of few references), the rest of the stream is decoded whole.
    Raises MediaError for files without video, undecodable streams and truncated files, and
    when decoding goes past ``budget`` (checked at every decoded frame).

    ``first`` is the first instant sampled: a stream cut into chunks (``live``) keeps one
    sampling phase across them, instead of sampling each chunk's first frame a few
    milliseconds after the last chunk's last sample.
    """
    container = open_media(path)
    try:
        stream = picture_stream(container)
        if stream is None:
            raise MediaError("no video stream")
        ctx = stream.codec_context
        if ctx is None:  # see container.probe: the sample description was unreadable
            raise MediaError("video stream has no known codec (damaged or unsupported)")
        stream.thread_type = "AUTO"
        ctx.skip_frame = "NONREF"
        if not ctx.width or not ctx.height:
            raise MediaError("video stream has no picture size")
        expected = stream_duration(container, stream)
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        step = 1.0 / fps
        next_time = max(first, 0.0)
        last_time = -1.0
        last_decoded = -1.0
        size = None
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    t = last_time + 1.0 / 25 if last_time >= 0 else 0.0
                else:
                    t = float(frame.pts * frame.time_base) - start
                budget.check(t, frame.width, frame.height)
                if last_decoded >= 0 and t - last_decoded > step / 2 and ctx.skip_frame != "DEFAULT":
                    ctx.skip_frame = "DEFAULT"
                last_decoded = t
                if t < next_time - 1e-6:
                    continue
                if size is None:
                    size = analysis_size(frame.width, frame.height, long_side)
                rgb = frame.to_ndarray(width=size[0], height=size[1], format="rgb24")
                rotation = getattr(frame, "rotation", 0) or 0
                if rotation % 360:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=int(round(rotation / 90)) % 4))
                yield SampledFrame(max(t, 0.0), rgb)
                last_time = t
                while next_time <= t + 1e-6:
                    next_time += step
        except av.error.FFmpegError as err:
            if expected > 2.0 and last_time + step < expected * 0.95 - 1.0:
                # A file cut short fails this way when unreferenced frames are skipped,
                # where decoding every frame ended quietly: the same input, the same words.
                raise MediaError(f"truncated or corrupt: decoded {max(last_time, 0) + step:.1f} s of {expected:.1f} s"
                                 f" ({one_line(err)})") from None  # fmt: skip
            raise MediaError(f"corrupt video stream after {max(last_time, 0):.1f} s ({one_line(err)})") from None
        except Exception as err:
            # Damaged streams reach PyAV and numpy in states no check foresaw (odd frame
            # sizes, missing planes): still this input's error, not the caller's.
            raise unexpected(err, f"corrupt video stream after {max(last_time, 0):.1f} s") from None
        if last_decoded < 0:
            raise MediaError("video stream has no decodable frames")
        if expected > 2.0 and last_time + step < expected * 0.95 - 1.0:
            raise MediaError(f"truncated or corrupt: decoded {last_time + step:.1f} s of {expected:.1f} s")
    finally:
        container.close()
