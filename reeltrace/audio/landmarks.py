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

import numpy as np

from ..media.sound import decode_audio, resample
from .config import (BLOCK, CHUNK, DENSE_QUERY_SECONDS, FAN_OUT, FLOOR_DB, FRAME_SECONDS, F_MAX, F_MIN, HOP, MAX_DF, MAX_DT, N_FFT, PEAKS_PER_BLOCK, PEAK_DF, PEAK_DT, Q, QUERY_FAN_OUT, QUERY_HYPOTHESES, QUERY_PEAKS_PER_BLOCK, RATE)
from .evidence import QueryEvidence
from .records import AudioFingerprint, AudioQuery, Peaks
from .spectrum import running, spectrum_db, whiten


def _chunk_peaks(spec: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, bin, strength) of the local maxima of one whitened spectrogram chunk."""
    spec, white = whiten(spec)
    local = running(running(white, PEAK_DF, 1, np.max), PEAK_DT, 0, np.max)
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
        spec = spectrum_db(x[lo * HOP : (hi - 1) * HOP + N_FFT])
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
    return fingerprint(*decode_audio(path, RATE))
