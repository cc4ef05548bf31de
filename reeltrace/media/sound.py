"""Sound decoding: any container's first audio stream as mono float32 samples."""

from __future__ import annotations

import av
import numpy as np

from .container import MediaError, one_line, open_media, unexpected
from .limits import NO_BUDGET, Budget


def _samples(frame: av.AudioFrame) -> np.ndarray:
    """A packed mono float32 frame's samples (a copy): what ``to_ndarray().reshape(-1)``
    gives, without its per-frame vstack (0.45 of the film's 2.3 s of sound decoding)."""
    return np.frombuffer(frame.planes[0], np.float32, count=frame.samples).copy()


def decode_audio(path: str, rate: int, budget: Budget = NO_BUDGET) -> tuple[np.ndarray, int]:
    """The first audio stream of a file as mono float32 samples at ``rate`` Hz.

    Channels are mixed down and the stream resampled by FFmpeg (swresample).
    Raises MediaError for missing files, files without sound and corrupt streams, and when
    decoding goes past ``budget``.
    """
    container = open_media(path)
    try:
        if not container.streams.audio:
            raise MediaError("no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts: list[np.ndarray] = []
        got = 0
        try:
            for frame in container.decode(stream):
                budget.check(got / rate, stream="sound")
                for out in resampler.resample(frame):
                    parts.append(_samples(out))
                    got += out.samples
            for out in resampler.resample(None):
                parts.append(_samples(out))
        except (av.error.FFmpegError, ValueError) as err:
            raise MediaError(f"corrupt audio stream after {got / rate:.1f} s ({one_line(err)})") from None
        except Exception as err:
            # As for pictures (``frames.sample_frames``): a damaged stream can leave PyAV in a
            # state no check foresaw; it is this input's error, and an optional sound track
            # that fails so must not reject a file whose picture is fine.
            raise unexpected(err, f"corrupt audio stream after {got / rate:.1f} s") from None
        if not parts or sum(len(p) for p in parts) == 0:
            raise MediaError("audio stream has no decodable samples")
        return np.concatenate(parts).astype(np.float32, copy=False), rate
    finally:
        container.close()


def decode_audio_span(path: str, rate: int, start: float, end: float) -> np.ndarray:
    """Mono float32 samples at ``rate`` Hz of the seconds [start, end) of a file's first
    audio stream: a seek, then only that stretch is decoded (an evidence excerpt of a
    long work costs its own length, not the work's). Raises MediaError as ``decode_audio``."""
    container = open_media(path)
    try:
        if not container.streams.audio:
            raise MediaError("no audio stream")
        stream = container.streams.audio[0]
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base else 0.0
        if start > 1.0 and stream.time_base:
            container.seek(int((start + origin - 1.0) / stream.time_base), stream=stream, backward=True)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        want = max(int(round((end - start) * rate)), 0)
        parts: list[np.ndarray] = []
        got, skip = 0, None  # skip: samples still to drop before ``start`` (the seek lands earlier)
        try:
            for frame in container.decode(stream):
                if skip is None:
                    at = float(frame.pts * frame.time_base) - origin if frame.pts is not None else 0.0
                    skip = max(int(round((start - at) * rate)), 0)
                for out in resampler.resample(frame):
                    samples = _samples(out)
                    dropped = min(skip, len(samples))
                    skip -= dropped
                    parts.append(samples[dropped:])
                    got += len(samples) - dropped
                if got >= want:
                    break
        except (av.error.FFmpegError, ValueError) as err:
            raise MediaError(f"corrupt audio stream ({one_line(err)})") from None
        out = np.concatenate(parts)[:want] if parts else np.zeros(0, np.float32)
        return out.astype(np.float32, copy=False)
    finally:
        container.close()


def resample(samples: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    """Mono float32 samples at ``rate`` -> ``to_rate``, with FFmpeg's band-limited resampler."""
    samples = np.ascontiguousarray(samples, np.float32).reshape(-1)
    if rate == to_rate or len(samples) == 0:
        return samples
    resampler = av.AudioResampler(format="flt", layout="mono", rate=to_rate)
    parts: list[np.ndarray] = []
    step = 1 << 16  # FFmpeg frames hold at most this many samples comfortably
    for start in range(0, len(samples), step):
        frame = av.AudioFrame.from_ndarray(samples[None, start : start + step], format="flt", layout="mono")
        frame.sample_rate = int(rate)
        frame.pts = None
        parts.extend(_samples(out) for out in resampler.resample(frame))
    parts.extend(_samples(out) for out in resampler.resample(None))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
