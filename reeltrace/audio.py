"""Audio stage: decode sound, find spectral landmarks, hash landmark pairs.

A landmark fingerprint after Wang (2003, the Shazam paper) and Ellis' audfprint:

1. Decode to mono at ``RATE`` = 8 kHz (telephone bandwidth: whatever survives a phone
   line or a low-bitrate codec is below 4 kHz, and 8 kHz makes every later step cheap).
2. Short-time spectrum: Hann window of ``N_FFT`` = 512 samples (64 ms), hop ``HOP`` = 256
   (32 ms), log power ``S[t, f]`` in dB, f = 0..256 (15.6 Hz per bin).
3. Whitening: ``W[t, f] = S[t, f] - mean(S[t, f-15 .. f+15])``. A peak must stand out from
   its own neighbourhood of the spectrum, so equalisation, band-limiting and volume (which
   add a smooth or constant curve to S) do not move it. Before that, S is clamped to at
   least its frame's maximum minus ``CLAMP_DB`` = 40 dB: low-bitrate codecs zero whole
   bands (-120 dB), which would sink the mean and turn every bin beside the hole into a
   "peak" (measured: the clamp took the quick benchmark's 3 s top-1 from 61% to 80%).
4. Peaks: points that are the maximum of ``W`` over +-``PEAK_DT`` frames and +-``PEAK_DF``
   bins, lie in ``F_MIN..F_MAX`` bins, are at most 70 dB below the loud part of the file
   (silence and dither are no landmarks) and are among the ``PEAKS_PER_BLOCK`` strongest
   (by ``W``) of their one-second block: the strongest peaks are the ones that outlast
   added noise, and a fixed quota per second keeps the density the same for loud and
   quiet passages.
5. Pairs: each peak (anchor, at t1, f1) is paired with the first ``FAN_OUT`` later peaks in
   its target zone ``1 <= t2 - t1 <= 63`` frames, ``|f2 - f1| <= 63`` bins. The pair is
   hashed (20 bits used of a uint32) as

       hash = (f1 // Q) << 13 | ((f2 - f1) // Q + 32) << 6 | (t2 - t1)

   with ``Q`` = 2 bins (31 Hz): a landmark survives a frequency error of a fraction of a
   bin (see the speed hypotheses below) that exact bins would not.

Speed changes. Playing a recording ``a`` times slower (speed 1/a, pitch with it) scales
its times by ``a`` and its frequencies by ``1/a``; a tempo change with pitch kept scales
times only. Pair hashes are not invariant to either, so the *query* is fingerprinted
under a set of hypotheses ``(a, b)``: its peak coordinates are mapped to
``(a * t, b * f)`` (work time, work frequency) before pairing and hashing. The work side
is fingerprinted once, at ``(1, 1)``. Peaks are found once per query; each hypothesis
costs only the pairing and hashing of the mapped peaks. ``QUERY_HYPOTHESES`` covers
pitch-changing speed 0.8..1.25 (``b = 1/a``) and tempo 0.9..1.1 (``b = 1``) on grids
about 3% apart; a landmark hash survives about +-1.5% of scale error (docs/audio.md
has the measurement), so neighbouring hypotheses overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from .media import MediaError, _one_line, _open

FINGERPRINT_VERSION = 2
"""Bumped whenever a change alters the hashes a work gets; a library keeps the version its
works were hashed with, and its audio is not matched against hashes of another version."""

RATE = 8000
N_FFT = 512
HOP = 128
FRAME_SECONDS = HOP / RATE
F_MIN, F_MAX = 6, 250  # bins: 94 Hz .. 3.9 kHz
PEAK_DT, PEAK_DF = 8, 6  # half-sizes of the local-maximum neighbourhood (frames, bins)
WHITEN_HALF = 15  # bins each side in the whitening mean
FLOOR_DB = 70.0  # peaks this far below the file's loud level are ignored
CLAMP_DB = 40.0  # bins are raised to at least their frame's maximum minus this (0: off)
BLOCK = 64  # frames (~1 s) per peak quota block
PEAKS_PER_BLOCK = 16
FAN_OUT = 4
QUERY_PEAKS_PER_BLOCK = 16  # query side (denser query landmarks cost query time only)
QUERY_FAN_OUT = 4
MAX_DT = 63  # frames, 2 s: target zone length (6 bits)
MAX_DF = 63  # bins, 1 kHz: target zone height
Q = 2  # bins per hash frequency step
DENSE_QUERY_SECONDS = 20.0  # queries up to this long get the second grid and dt +- 1
CHUNK = 2048  # frames per spectrogram chunk (65 s): bounds memory for long works
EVIDENCE_HALF = 32  # frames (0.5 s) each side: the time window a query cell is ranked in
EVIDENCE_BINS = 1  # bins each side of a cell's frequency that its value is the maximum of


def _grid(lo: float, hi: float, step: float) -> np.ndarray:
    n = int(np.ceil(np.log(hi / lo) / np.log(1 + step)))
    return np.geomspace(lo, hi, n + 1)


QUERY_HYPOTHESES: tuple[tuple[float, float], ...] = tuple(
    dict.fromkeys(
        [(1.0, 1.0)]
        + [(round(float(a), 4), round(float(1 / a), 4)) for a in _grid(0.8, 1.25, 0.03)]
        + [(round(float(a), 4), 1.0) for a in _grid(0.9, 1.1, 0.03)]
    )
)
"""(time scale a, frequency scale b) per query pass: work time = a * query time, work
frequency = b * query frequency. First the identity; then pitch-changing speeds, then
tempo changes."""


@dataclass
class AudioFingerprint:
    """Landmark hashes of one recording (or of one query pass).

    ``hashes[i]`` is the pair hash whose anchor peak sits at ``times[i]`` seconds of the
    recording. A query pass also says which hypothesis mapped it: work time =
    ``time_scale * times``, work frequency = ``freq_scale * query frequency``.
    """

    hashes: np.ndarray  # (n,) uint32
    times: np.ndarray  # (n,) float32 seconds, anchor peak
    duration: float
    time_scale: float = 1.0
    freq_scale: float = 1.0

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def speed(self) -> float:
        """Work seconds per query second that this pass assumed."""
        return self.time_scale


@dataclass
class Peaks:
    """Spectral peaks in frame and bin units, sorted by time then frequency."""

    t: np.ndarray  # (n,) float64 frames
    f: np.ndarray  # (n,) float64 bins
    duration: float


@dataclass
class AudioQuery:
    """What a scan matches: the query's landmark passes (one per speed hypothesis,
    identity first) and its evidence map for verifying alignments."""

    passes: list[AudioFingerprint]
    evidence: QueryEvidence

    @property
    def duration(self) -> float:
        return self.evidence.duration


# -- decoding ----------------------------------------------------------------------------


def decode_audio(path: str, rate: int = RATE) -> tuple[np.ndarray, int]:
    """The first audio stream of a file as mono float32 samples at ``rate`` Hz.

    Channels are mixed down and the stream resampled by FFmpeg (swresample).
    Raises MediaError for missing files, files without sound and corrupt streams.
    """
    container = _open(path)
    try:
        if not container.streams.audio:
            raise MediaError("no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts: list[np.ndarray] = []
        got = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
                    got += out.samples
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
        except (av.error.FFmpegError, ValueError) as err:
            raise MediaError(f"corrupt audio stream after {got / rate:.1f} s ({_one_line(err)})") from None
        if not parts or sum(len(p) for p in parts) == 0:
            raise MediaError("audio stream has no decodable samples")
        return np.concatenate(parts).astype(np.float32, copy=False), rate
    finally:
        container.close()


def resample(samples: np.ndarray, rate: int, to_rate: int = RATE) -> np.ndarray:
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
        parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
    parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


# -- peaks -------------------------------------------------------------------------------


_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)


def _spectrum_db(x: np.ndarray) -> np.ndarray:
    """(frames, N_FFT // 2 + 1) log power in dB of a sample run that spans whole frames."""
    n = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(x, (n, N_FFT), (x.strides[0] * HOP, x.strides[0]))
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    return (10.0 * np.log10(power + 1e-10)).astype(np.float32)


def _running(a: np.ndarray, half: int, axis: int, op) -> np.ndarray:
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
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=axis)
    return view.max(axis=-1)


def _whiten(spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clamped spectrum, whitened spectrum) of a log-power spectrogram (step 3)."""
    if CLAMP_DB:
        # Spectral holes (a low-bitrate codec zeroes whole bands) would sink the whitening
        # mean and make every bin beside them a "peak": nothing counts as quieter than
        # CLAMP_DB below its frame's loudest bin.
        spec = np.maximum(spec, spec[:, F_MIN : F_MAX + 1].max(axis=1, keepdims=True) - CLAMP_DB)
    return spec, spec - _running(spec, WHITEN_HALF, 1, np.mean)


def _chunk_peaks(spec: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, bin, strength) of the local maxima of one whitened spectrogram chunk."""
    spec, white = _whiten(spec)
    local = _running(_running(white, PEAK_DF, 1, np.max), PEAK_DT, 0, np.max)
    core = white[:, F_MIN : F_MAX + 1]
    is_peak = (core >= local[:, F_MIN : F_MAX + 1]) & (core > 3.0) & (spec[:, F_MIN : F_MAX + 1] > floor)
    t, f = np.nonzero(is_peak)
    return t, f + F_MIN, core[t, f]


def find_peaks(samples: np.ndarray, rate: int, per_block: int = PEAKS_PER_BLOCK) -> Peaks:
    """Spectral landmarks of a recording (steps 1-4 of the module docstring): at most
    ``per_block`` per block."""
    x = resample(samples, rate, RATE)
    duration = len(x) / RATE
    if len(x) < N_FFT:
        return Peaks(np.zeros(0), np.zeros(0), duration)
    # The loudness reference: the 99th percentile of frame power over the whole file.
    frame_db = 10 * np.log10(np.mean(x[: len(x) // HOP * HOP].reshape(-1, HOP) ** 2, axis=1) + 1e-10)
    floor = float(np.percentile(frame_db, 99)) + 10 * np.log10(N_FFT * 0.375 / 2) - FLOOR_DB
    n_frames = 1 + (len(x) - N_FFT) // HOP
    ts, fs, ws = [], [], []
    for start in range(0, n_frames, CHUNK):
        # Overlap by PEAK_DT frames each side so the local maximum sees across chunk edges.
        lo = max(start - PEAK_DT, 0)
        hi = min(start + CHUNK + PEAK_DT, n_frames)
        spec = _spectrum_db(x[lo * HOP : (hi - 1) * HOP + N_FFT])
        t, f, w = _chunk_peaks(spec, floor)
        t = t + lo
        keep = (t >= start) & (t < start + CHUNK)
        ts.append(t[keep])
        fs.append(f[keep])
        ws.append(w[keep])
    t, f, w = np.concatenate(ts), np.concatenate(fs), np.concatenate(ws)
    # Quota: the per_block strongest of every block of BLOCK frames.
    block = t // BLOCK
    order = np.lexsort((-w, block))
    block = block[order]
    starts = np.searchsorted(block, block, side="left")
    rank = np.arange(len(order)) - starts
    chosen = order[rank < per_block]
    t, f = t[chosen], f[chosen]
    order = np.lexsort((f, t))
    return Peaks(t[order].astype(np.float64), f[order].astype(np.float64), duration)


class QueryEvidence:
    """How strongly each cell of the query's spectrogram stands out in time: the map that
    verification reads a work's peaks from (``audio_match.verify_alignment``).

    For cell ``(t, f)`` let ``v`` be the maximum of the whitened spectrum ``W`` over bins
    ``f +- EVIDENCE_BINS`` at frame ``t``, and ``u`` the fraction of the same bin's values
    ``v(t', f)`` over ``|t' - t| <= EVIDENCE_HALF`` frames that lie below it (ties count a
    half). The map holds ``G = -ln(1 - u)``.

    Why a rank in time: if a work's peak lands on the query at a random place, ``u`` is
    uniform, so ``G`` is exponential with mean 1, whatever the query's loudness, noise or
    density. Ranking over the whole neighbourhood (time and frequency) is not enough: two
    pieces of music share a tuning, so a work's peak often falls on a note the query holds
    (measured: median ``u`` 0.84 for unrelated tracks). Within one frequency row a held
    note is high everywhere, so only a peak that rises and falls with the query's scores.
    Where the query really plays the work over an overlay or noise, many of its peaks are
    still the local maximum in time of their own bin, with ``G`` near its ceiling
    ``ln(2 (2 EVIDENCE_HALF + 1))``.

    Only the cells that verification reads are ranked, and the whitened spectrum is
    computed in chunks of ``CHUNK`` frames when first needed, so a long query that
    matches in a few places costs only those places.
    """

    def __init__(self, samples: np.ndarray, rate: int):
        self._x = resample(samples, rate, RATE)
        self.duration = len(self._x) / RATE
        self.n_frames = max(1 + (len(self._x) - N_FFT) // HOP, 0)
        self._chunks: dict[int, tuple[np.ndarray, int]] = {}

    def _chunk(self, c: int) -> tuple[np.ndarray, int]:
        """``v`` over the frames of chunk ``c`` and EVIDENCE_HALF beyond, and its first frame."""
        got = self._chunks.get(c)
        if got is None:
            lo = max(c * CHUNK - EVIDENCE_HALF, 0)
            hi = min((c + 1) * CHUNK + EVIDENCE_HALF, self.n_frames)
            _, white = _whiten(_spectrum_db(self._x[lo * HOP : (hi - 1) * HOP + N_FFT]))
            got = self._chunks[c] = (_running(white, EVIDENCE_BINS, 1, np.max) if EVIDENCE_BINS else white, lo)
        return got

    def at(self, frames: np.ndarray, bins: np.ndarray) -> np.ndarray:
        """``G`` at integer (frame, bin) pairs, which must lie in ``0..n_frames - 1`` and
        ``0..N_FFT // 2``."""
        out = np.empty(len(frames), np.float32)
        window = np.arange(-EVIDENCE_HALF, EVIDENCE_HALF + 1)
        chunk = frames // CHUNK
        for c in np.unique(chunk):
            sel = chunk == c
            v, lo = self._chunk(int(c))
            t, f = frames[sel], bins[sel]
            around = t[:, None] + window
            valid = (around >= 0) & (around < self.n_frames)
            row = v[np.clip(around - lo, 0, len(v) - 1), f[:, None]]
            centre = v[t - lo, f][:, None]
            below = ((row < centre) & valid).sum(1) + 0.5 * ((row == centre) & valid).sum(1)
            u = below / valid.sum(1)
            out[sel] = -np.log1p(-np.minimum(u, 1 - 1e-6))
        return out


# -- hashes ------------------------------------------------------------------------------


def hash_peaks(peaks: Peaks, time_scale: float = 1.0, freq_scale: float = 1.0, fan_out: int = FAN_OUT,
               per_block: int = PEAKS_PER_BLOCK) -> AudioFingerprint:  # fmt: skip
    """Pair hashes of peaks mapped to ``(time_scale * t, freq_scale * f)`` (step 5), each
    anchor with its first ``fan_out`` targets (``per_block``: the peaks' density)."""
    t = peaks.t * time_scale
    f = peaks.f * freq_scale
    n = len(t)
    if n < 2:
        return AudioFingerprint(np.zeros(0, np.uint32), np.zeros(0, np.float32), peaks.duration, time_scale, freq_scale)
    # Candidate targets: the next `span` peaks in time order (a 2 s zone holds at most
    # ~2 blocks' quota, so 3 quotas reach the zone's end).
    span = min(3 * per_block, n - 1)
    i = np.arange(n)[:, None]
    j = i + np.arange(1, span + 1)[None, :]
    valid = j < n
    j = np.minimum(j, n - 1)
    dt = np.rint(t[j] - t[i]).astype(np.int64)
    f1 = np.rint(f).astype(np.int64)
    df = np.rint(f[j]).astype(np.int64) - f1[:, None]
    valid &= (dt >= 1) & (dt <= MAX_DT) & (np.abs(df) <= MAX_DF)
    # The first FAN_OUT valid targets of each anchor.
    valid &= np.cumsum(valid, axis=1) <= fan_out
    ai, k = np.nonzero(valid)
    dt, df = dt[ai, k], df[ai, k]
    f1 = f1[ai]
    ok = (f1 >= 0) & (f1 < 512)  # 8 bits of f1 // Q
    hashes = ((f1 // Q) << 13) | ((np.floor_divide(df, Q) + 32) << 6) | dt
    hashes = hashes[ok].astype(np.uint32)
    # Times stay in the recording's own seconds: the matcher applies the time scale.
    times = (peaks.t[ai[ok]] * FRAME_SECONDS).astype(np.float32)
    return AudioFingerprint(hashes, times, peaks.duration, time_scale, freq_scale)


def anchor_steps(hashes: np.ndarray) -> np.ndarray:
    """The anchor frequency each hash keeps, in steps of ``Q`` bins (``f1 // Q``, the
    field ``hash_peaks`` puts above bit 13)."""
    return (np.asarray(hashes, np.int64) >> 13) & 0xFF


def fingerprint(samples: np.ndarray, rate: int) -> AudioFingerprint:
    """The fingerprint of a registered work (one pass, no speed hypothesis)."""
    return hash_peaks(find_peaks(samples, rate))


def _with_neighbours(fp: AudioFingerprint) -> AudioFingerprint:
    """The hashes again with dt - 1 and dt + 1: a query-side tolerance for peak times
    that round to the neighbouring frame (the query's frame grid is not the work's)."""
    h = fp.hashes.astype(np.int64)
    dt = h & 63
    lower = (h & ~63) | np.maximum(dt - 1, 1)
    upper = (h & ~63) | np.minimum(dt + 1, MAX_DT)
    hashes = np.concatenate([fp.hashes, lower.astype(np.uint32), upper.astype(np.uint32)])
    return AudioFingerprint(hashes, np.tile(fp.times, 3), fp.duration, fp.time_scale, fp.freq_scale)


def fingerprint_query(
    samples: np.ndarray, rate: int, hypotheses: tuple[tuple[float, float], ...] = QUERY_HYPOTHESES
) -> AudioQuery:
    """One fingerprint per (time scale, frequency scale) hypothesis, identity first, and
    the query's evidence map (``QueryEvidence``).

    A query up to ``DENSE_QUERY_SECONDS`` long is analysed on two frame grids, half a
    hop apart, and every hash also appears with ``dt +- 1``: one of the grids lies within
    a quarter frame of the work's, whatever the excerpt's start. This costs query lookups
    only (6x); the work index stays one pass. Longer queries have landmarks to spare and
    get one grid and exact hashes, which keeps a 60 s scan under a second.
    """
    x = resample(samples, rate, RATE)
    dense = len(x) / RATE <= DENSE_QUERY_SECONDS
    per_block, fan_out = (QUERY_PEAKS_PER_BLOCK, QUERY_FAN_OUT) if dense else (PEAKS_PER_BLOCK, FAN_OUT)
    grids = [find_peaks(x, RATE, per_block)]
    if dense:
        grids.append(find_peaks(x[HOP // 2 :], RATE, per_block))
        grids[1].t += 0.5
        grids[1].duration = grids[0].duration
    out = []
    for a, b in hypotheses:
        parts = [hash_peaks(p, a, b, fan_out, per_block) for p in grids]
        if dense:
            parts = [_with_neighbours(p) for p in parts]
        out.append(
            AudioFingerprint(
                np.concatenate([p.hashes for p in parts]),
                np.concatenate([p.times for p in parts]),
                grids[0].duration,
                a,
                b,
            )
        )
    return AudioQuery(out, QueryEvidence(x, RATE))


def fingerprint_file(path: str) -> AudioFingerprint:
    """Decode and fingerprint a file's sound. Raises MediaError."""
    return fingerprint(*decode_audio(path))
