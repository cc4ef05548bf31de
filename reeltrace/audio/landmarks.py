"""Audio stage: spectral landmarks of decoded sound, and pair hashes of them.

A landmark fingerprint after Wang (2003, the Shazam paper) and Ellis' audfprint. The
numbers are fields of ``AudioConfig`` (``spectrum``: ``SpectrumParams``, ``landmarks``:
``LandmarkParams``); the defaults are quoted here.

1. Decode to mono at ``rate`` = 8 kHz (telephone bandwidth: whatever survives a phone
   line or a low-bitrate codec is below 4 kHz, and 8 kHz makes every later step cheap).
   Decoding is ``media.sound``'s; the chain passes it its rate.
2. Short-time spectrum: Hann window of ``n_fft`` = 512 samples (64 ms), hop ``hop`` = 128
   (16 ms; a frame is one hop, 62.5 frames a second), log power ``S[t, f]`` in dB,
   f = 0..256 (15.6 Hz per bin).
3. Whitening: ``W[t, f] = S[t, f] - mean(S[t, f-15 .. f+15])``. A peak must stand out from
   its own neighbourhood of the spectrum, so equalisation, band-limiting and volume (which
   add a smooth or constant curve to S) do not move it. Before that, S is clamped to at
   least its frame's maximum minus ``clamp_db`` = 40 dB: low-bitrate codecs zero whole
   bands (-120 dB), which would sink the mean and turn every bin beside the hole into a
   "peak" (measured: the clamp took the quick benchmark's 3 s top-1 from 61% to 80%).
4. Peaks: points that are the maximum of ``W`` over +-``peak_dt`` frames and +-``peak_df``
   bins, lie in ``f_min..f_max`` bins, are at most ``floor_db`` = 70 dB below the loud part
   of the file (silence and dither are no landmarks) and are among the
   ``peaks_per_block`` strongest (by ``W``) of their block of ``block`` = 64 frames
   (1.024 s): the strongest peaks are the ones that outlast added noise, and a fixed quota
   per second keeps the density the same for loud and quiet passages.
5. Pairs: each peak (anchor, at t1, f1) is paired with the first ``fan_out`` later peaks in
   its target zone ``1 <= t2 - t1 <= max_dt`` = 63 frames (1.008 s),
   ``|f2 - f1| <= max_df`` = 63 bins (984 Hz). The pair is hashed (``hashes.HASH_LAYOUT``,
   20 bits used of a uint32) as

       hash = (f1 // q) << 13 | ((f2 - f1) // q + 32) << 6 | (t2 - t1)

   with ``q`` = 2 bins (31 Hz): a landmark survives a frequency error of a fraction of a
   bin (see the speed hypotheses below) that exact bins would not.

Speed changes. Playing a recording ``a`` times slower (speed 1/a, pitch with it) scales
its times by ``a`` and its frequencies by ``1/a``; a tempo change with pitch kept scales
times only. Pair hashes are not invariant to either, so the *query* is fingerprinted
under a set of hypotheses ``(a, b)``: its peak coordinates are mapped to
``(a * t, b * f)`` (work time, work frequency) before pairing and hashing. The work side
is fingerprinted once, at ``(1, 1)``. Peaks are found once per query; each hypothesis
costs only the pairing and hashing of the mapped peaks. ``LandmarkParams.hypotheses``
(``config.speed_hypotheses``) covers pitch-changing speed 0.8..1.25 (``b = 1/a``) and
tempo 0.9..1.1 (``b = 1``) on grids about 3% apart; a landmark hash survives about +-1.5%
of scale error (docs/audio.md has the measurement), so neighbouring hypotheses overlap.
"""

from __future__ import annotations

import numpy as np

from ..media.sound import resample
from .codes import codes_from_energy, work_band_energy
from .config import AudioConfig
from .evidence import QueryEvidence
from .hashes import HASH_LAYOUT
from .records import AudioFingerprint, AudioQuery, Peaks
from .spectrum import running, spectrum_db, whiten


def _chunk_peaks(spec: np.ndarray, floor: float, config: AudioConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, bin, strength) of the local maxima of one whitened spectrogram chunk."""
    sp, lm = config.spectrum, config.landmarks
    spec, white = whiten(spec, sp)
    local = running(running(white, lm.peak_df, 1, np.max), lm.peak_dt, 0, np.max)
    core = white[:, sp.f_min : sp.f_max + 1]
    is_peak = (core >= local[:, sp.f_min : sp.f_max + 1]) & (core > 3.0) & (spec[:, sp.f_min : sp.f_max + 1] > floor)
    t, f = np.nonzero(is_peak)
    return t, f + sp.f_min, core[t, f]


def find_peaks(samples: np.ndarray, rate: int, per_block: int | None = None, config: AudioConfig = AudioConfig()) -> Peaks:
    """Spectral landmarks of a recording (steps 1-4 of the module docstring): at most
    ``per_block`` per block (default: the work side's ``peaks_per_block``)."""
    return _peaks_and_bands(resample(samples, rate, config.spectrum.rate), per_block, False, config)[0]


def _peaks_and_bands(x: np.ndarray, per_block: int | None, bands: bool, config: AudioConfig) -> tuple[Peaks, np.ndarray | None]:
    """``find_peaks`` of 8 kHz samples, and with ``bands`` the band energies of every frame
    (``codes.work_band_energy``) from the same spectrum chunks: registering a work computes
    its spectrum once for the peaks and the codes."""
    sp, lm = config.spectrum, config.landmarks
    if per_block is None:
        per_block = lm.peaks_per_block
    n_fft, hop, chunk = sp.n_fft, sp.hop, sp.chunk
    duration = len(x) / sp.rate
    energy = [np.zeros((0, config.codes.bands), np.float32)] if bands else None
    if len(x) < n_fft:
        return Peaks(np.zeros(0), np.zeros(0), duration), (energy[0] if bands else None)
    # The loudness reference: the 99th percentile of frame power over the whole file.
    frame_db = 10 * np.log10(np.mean(x[: len(x) // hop * hop].reshape(-1, hop) ** 2, axis=1) + 1e-10)
    floor = float(np.percentile(frame_db, 99)) + 10 * np.log10(n_fft * 0.375 / 2) - lm.floor_db
    n_frames = 1 + (len(x) - n_fft) // hop
    ts, fs, ws = [], [], []
    for start in range(0, n_frames, chunk):
        # Overlap by peak_dt frames each side so the local maximum sees across chunk edges.
        lo = max(start - lm.peak_dt, 0)
        hi = min(start + chunk + lm.peak_dt, n_frames)
        spec = spectrum_db(x[lo * hop : (hi - 1) * hop + n_fft], sp)
        if bands:
            energy.append(work_band_energy(spec[start - lo : min(start + chunk, n_frames) - lo], config))
        t, f, w = _chunk_peaks(spec, floor, config)
        t = t + lo
        keep = (t >= start) & (t < start + chunk)
        ts.append(t[keep])
        fs.append(f[keep])
        ws.append(w[keep])
    t, f, w = np.concatenate(ts), np.concatenate(fs), np.concatenate(ws)
    # Quota: the per_block strongest of every block of `block` frames.
    block = t // lm.block
    order = np.lexsort((-w, block))
    block = block[order]
    starts = np.searchsorted(block, block, side="left")
    rank = np.arange(len(order)) - starts
    chosen = order[rank < per_block]
    t, f = t[chosen], f[chosen]
    order = np.lexsort((f, t))
    peaks = Peaks(t[order].astype(np.float64), f[order].astype(np.float64), duration)
    return peaks, (np.concatenate(energy) if bands else None)


# -- hashes ------------------------------------------------------------------------------


def hash_peaks(peaks: Peaks, time_scale: float = 1.0, freq_scale: float = 1.0, fan_out: int | None = None,
               per_block: int | None = None, config: AudioConfig = AudioConfig()) -> AudioFingerprint:  # fmt: skip
    """Pair hashes of peaks mapped to ``(time_scale * t, freq_scale * f)`` (step 5), each
    anchor with its first ``fan_out`` targets (``per_block``: the peaks' density; both
    default to the work side's)."""
    lm = config.landmarks
    if fan_out is None:
        fan_out = lm.fan_out
    if per_block is None:
        per_block = lm.peaks_per_block
    t = peaks.t * time_scale
    f = peaks.f * freq_scale
    n = len(t)
    if n < 2:
        return AudioFingerprint(np.zeros(0, np.uint32), np.zeros(0, np.float32), peaks.duration, time_scale, freq_scale)
    # Candidate targets: the next `span` peaks in time order (a target zone of max_dt = 63
    # frames lies within the anchor's block of 64 frames and the next, so it holds at most
    # 2 blocks' quota; 3 quotas reach the zone's end).
    span = min(3 * per_block, n - 1)
    i = np.arange(n)[:, None]
    j = i + np.arange(1, span + 1)[None, :]
    valid = j < n
    j = np.minimum(j, n - 1)
    dt = np.rint(t[j] - t[i]).astype(np.int64)
    f1 = np.rint(f).astype(np.int64)
    df = np.rint(f[j]).astype(np.int64) - f1[:, None]
    valid &= (dt >= 1) & (dt <= lm.max_dt) & (np.abs(df) <= lm.max_df)
    # The first fan_out valid targets of each anchor.
    valid &= np.cumsum(valid, axis=1) <= fan_out
    ai, k = np.nonzero(valid)
    dt, df = dt[ai, k], df[ai, k]
    f1 = f1[ai]
    ok = (f1 >= 0) & (f1 < HASH_LAYOUT.anchor.size * lm.q)  # f1 // q must fit the anchor field
    hashes = HASH_LAYOUT.pack(f1 // lm.q, np.floor_divide(df, lm.q), dt)
    hashes = hashes[ok].astype(np.uint32)
    # Times stay in the recording's own seconds: the matcher applies the time scale.
    times = (peaks.t[ai[ok]] * config.spectrum.frame_seconds).astype(np.float32)
    return AudioFingerprint(hashes, times, peaks.duration, time_scale, freq_scale)


def anchor_steps(hashes: np.ndarray) -> np.ndarray:
    """The anchor frequency each hash keeps, in steps of ``q`` bins (``f1 // q``, the
    anchor field of ``HASH_LAYOUT`` that ``hash_peaks`` writes)."""
    return HASH_LAYOUT.anchor.read(np.asarray(hashes, np.int64))


def fingerprint(samples: np.ndarray, rate: int, config: AudioConfig = AudioConfig()) -> AudioFingerprint:
    """The fingerprint of a registered work (one pass, no speed hypothesis): its pair
    hashes and its spectral-shape codes (as ``codes.work_codes``, from the spectrum the
    peaks were picked on)."""
    x = resample(samples, rate, config.spectrum.rate)
    peaks, energy = _peaks_and_bands(x, None, config.codes.enabled, config)
    fp = hash_peaks(peaks, config=config)
    if energy is not None:
        fp.codes = codes_from_energy(energy, config)
    return fp


def _with_neighbours(fp: AudioFingerprint, max_dt: int) -> AudioFingerprint:
    """The hashes again with dt - 1 and dt + 1 (within 1..max_dt): a query-side tolerance
    for peak times that round to the neighbouring frame (the query's frame grid is not the
    work's)."""
    h = fp.hashes.astype(np.int64)
    dt = HASH_LAYOUT.dt.read(h)
    rest = HASH_LAYOUT.dt.clear(h)
    lower = rest | np.maximum(dt - 1, 1)
    upper = rest | np.minimum(dt + 1, max_dt)
    hashes = np.concatenate([fp.hashes, lower.astype(np.uint32), upper.astype(np.uint32)])
    return AudioFingerprint(hashes, np.tile(fp.times, 3), fp.duration, fp.time_scale, fp.freq_scale)


def fingerprint_query(samples: np.ndarray, rate: int, config: AudioConfig = AudioConfig()) -> AudioQuery:
    """One fingerprint per (time scale, frequency scale) hypothesis of
    ``LandmarkParams.hypotheses``, identity first, and the query's evidence map
    (``QueryEvidence``).

    A query up to ``dense_query_seconds`` long is analysed on two frame grids, half a
    hop apart, and every hash also appears with ``dt +- 1``: one of the grids lies within
    a quarter frame of the work's, whatever the excerpt's start. This costs query lookups
    only (6x); the work index stays one pass. Longer queries have landmarks to spare and
    get one grid and exact hashes, which keeps a 60 s scan under a second.
    """
    sp, lm = config.spectrum, config.landmarks
    x = resample(samples, rate, sp.rate)
    dense = len(x) / sp.rate <= lm.dense_query_seconds
    per_block, fan_out = (lm.query_peaks_per_block, lm.query_fan_out) if dense else (lm.peaks_per_block, lm.fan_out)
    grids = [find_peaks(x, sp.rate, per_block, config)]
    if dense:
        grids.append(find_peaks(x[sp.hop // 2 :], sp.rate, per_block, config))
        grids[1].t += 0.5
        grids[1].duration = grids[0].duration
    out = []
    for a, b in lm.hypotheses:
        parts = [hash_peaks(p, a, b, fan_out, per_block, config) for p in grids]
        if dense:
            parts = [_with_neighbours(p, lm.max_dt) for p in parts]
        out.append(
            AudioFingerprint(
                np.concatenate([p.hashes for p in parts]),
                np.concatenate([p.times for p in parts]),
                grids[0].duration,
                a,
                b,
            )
        )
    mp = config.match
    peaks = None
    if mp.peak_votes and len(x) / sp.rate <= mp.peak_vote_seconds:
        peaks = find_peaks(x, sp.rate, mp.peak_vote_peaks_per_block, config)
    return AudioQuery(out, grids[0].duration, QueryEvidence(x, sp.rate, config), peaks)
