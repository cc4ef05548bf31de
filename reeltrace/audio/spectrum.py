"""Short-time spectra of 8 kHz mono sound: log power, running max/mean, whitening."""

from __future__ import annotations

import numpy as np

from .config import CodeParams, SpectrumParams


def spectrum_db(x: np.ndarray, spectrum: SpectrumParams = SpectrumParams()) -> np.ndarray:
    """(frames, n_fft // 2 + 1) log power in dB of a sample run that spans whole frames."""
    n_fft, hop = spectrum.n_fft, spectrum.hop
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    n = 1 + (len(x) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(x, (n, n_fft), (x.strides[0] * hop, x.strides[0]))
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (10.0 * np.log10(power + 1e-10)).astype(np.float32)


def running(a: np.ndarray, half: int, axis: int, op) -> np.ndarray:
    """Max or mean of ``a`` over a window of +-half along ``axis``, same shape.

    Edges: the max ignores what lies beyond them; the mean repeats the edge value.
    """
    pad = [(0, 0)] * a.ndim
    pad[axis] = (half, half)
    if op is np.mean:
        # Cumulative sums: O(n), not O(n * window).
        padded = np.pad(a, pad, mode="edge").astype(np.float64)
        c = np.cumsum(padded, axis=axis)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        k = 2 * half + 1
        n = a.shape[axis]
        return ((np.take(c, np.arange(k, k + n), axis=axis) - np.take(c, np.arange(n), axis=axis)) / k).astype(a.dtype)
    padded = np.pad(a, pad, constant_values=-np.inf)
    return _window_max(padded, 2 * half + 1, axis)


def _window_max(a: np.ndarray, width: int, axis: int) -> np.ndarray:
    """Max over every run of ``width`` along ``axis`` (``len - width + 1`` of them).

    By doubling: the max over runs of 2s is that of two runs of s, and a run of ``width``
    is covered by two (overlapping) runs of the largest power of two in it. A handful of
    whole-array maximums instead of a reduction over a strided window axis: exact (a max
    of maxes) and, for the 13- and 17-wide windows of ``landmarks``, about 5 times faster.
    """
    n = a.shape[axis]

    def part(x: np.ndarray, start: int, length: int) -> np.ndarray:
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, start + length)
        return x[tuple(index)]

    span, best = 1, a
    while 2 * span <= width:
        best = np.maximum(part(best, 0, best.shape[axis] - span), part(best, span, best.shape[axis] - span))
        span *= 2
    out = n - width + 1
    if span == width:
        return np.ascontiguousarray(part(best, 0, out))
    return np.maximum(part(best, 0, out), part(best, width - span, out))


def whiten(spec: np.ndarray, spectrum: SpectrumParams = SpectrumParams()) -> tuple[np.ndarray, np.ndarray]:
    """(clamped spectrum, whitened spectrum) of a log-power spectrogram (``landmarks`` step 3)."""
    if spectrum.clamp_db:
        # Spectral holes (a low-bitrate codec zeroes whole bands) would sink the whitening
        # mean and make every bin beside them a "peak": nothing counts as quieter than
        # clamp_db below its frame's loudest bin.
        spec = np.maximum(spec, spec[:, spectrum.f_min : spectrum.f_max + 1].max(axis=1, keepdims=True) - spectrum.clamp_db)
    return spec, spec - running(spec, spectrum.whiten_half, 1, np.mean)


def band_edges(spectrum: SpectrumParams, codes: CodeParams, pitch: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(first bin, end bin) of each band, for a recording whose frequencies are ``1 /
    pitch`` of the work's (``pitch``: work frequency per query frequency)."""
    hz = np.geomspace(codes.low_hz, codes.high_hz, codes.bands + 1) / pitch
    edges = hz / (spectrum.rate / spectrum.n_fft)
    top = spectrum.n_fft // 2 + 1
    lo = np.clip(np.floor(edges[:-1]).astype(np.int64), 0, top - 1)
    hi = np.clip(np.maximum(np.floor(edges[1:]).astype(np.int64), lo + 1), 1, top)
    return lo, hi


def band_sums(spec_db: np.ndarray) -> np.ndarray:
    """(frames, bins + 1) power of a log-power spectrogram summed over bins ``0 .. k - 1``
    in column ``k``: any band's power is then a difference of two columns."""
    power = np.power(10.0, spec_db.astype(np.float64) / 10.0)
    return np.concatenate([np.zeros((len(power), 1)), np.cumsum(power, axis=1)], axis=1)


def band_energy(summed: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(frames, bands) mean power of each band ``lo[m] .. hi[m] - 1`` (``band_sums``)."""
    return (summed[:, hi] - summed[:, lo]) / (hi - lo)
