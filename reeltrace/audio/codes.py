"""Spectral-shape codes: a second, dense reading of a work's sound, for verification.

Landmarks (``landmarks``) keep a work's strongest spectral peaks, about 16 a second. Under
a loud overlay or a low-bitrate codec most of them are gone from the query, and a true
alignment can verify (``verify``) below the bar while its sound is still plainly there.
The codes keep what the peaks throw away, the shape of the whole spectrum over time, in
32 bits per 64 ms, after Haitsma and Kalker (2002, the Philips fingerprint):

1. Band energies. The power spectrum of ``landmarks`` step 2 (8 kHz, 16 ms frames) is
   summed over ``bands`` = 33 bands spaced evenly in log frequency between ``low_hz``
   = 300 Hz and ``high_hz`` = 3 kHz (a phone line passes them all), and each band's
   energy is averaged over ``window`` = 16 frames (256 ms) centred on frame
   ``window / 2 + j step``, ``step`` = 4 frames (64 ms): row ``L[j]`` holds the logs.
2. Bits. Code ``i`` (``j = i + 1``) holds bit ``m`` = 1 where
   ``(L[j, m] - L[j, m + 1]) - (L[j - 1, m] - L[j - 1, m + 1]) > 0``: whether the slope of
   the spectrum between two neighbouring bands rises or falls from one row to the next.
   Silence and a steady tone change nothing from row to row: their bits are all 0 on
   both sides, and would agree with each other at any alignment. A query bit whose change
   is under ``CodeParams.flat`` (in natural-log units) is therefore not compared.
   A volume change, an equaliser or a codec's band-limiting adds the same amount to both
   rows and cancels; an overlay flips the bits where it dominates both bands and leaves
   the others.

A query is not coded on its own grid. Along a claimed alignment ``w = a q + o`` (work
frequency ``b`` x query frequency) the query's rows are computed where the work's rows
lie, with the window scaled by ``1 / a`` and the band edges by ``1 / b``
(``read_along``, from ``QueryEvidence.band_energy``), so a speed or pitch change of the copy is undone before
the bits are compared. The agreement over ``n`` compared bits with bit error rate ``BER``
is ``spectral = 2 sqrt(n) (1/2 - BER)``: about normal with mean 0 and spread 1 for
unrelated sound (more spread: neighbouring codes share three quarters of their window),
far above it for a copy.

Measured on the full audio bench's segments (stop 30, 3813 queries, docs/audio.md section
11): per query, the strongest of 300,000 segments on a wrong work or a wrong place reaches
7.1 on the fit half, 6.2 on the other (12.2 where a wrong work lies on a claimed work's
stretch, whose codes do not count: ``match._explain_away``); true segments of copies that
verification missed reach 15-21 under a codec or noise. The bar on ``spectral + 0.2 verified``
(``AudioScoreModel.spectral_bar``) was set again at stop 31 on the product's own scans,
where explaining away is the scan's, not an approximation (docs/audio.md section 12).

Storage: 4 bytes per 64 ms, 0.22 MB per hour of sound, beside the hashes
(``AudioFingerprint.codes``). Works registered before the codes existed have none; their
segments are decided by the landmarks alone, as before.
"""

from __future__ import annotations

import numpy as np

from .config import AudioConfig, CodeParams
from .evidence import QueryEvidence
from .spectrum import band_edges, band_energy, band_sums, spectrum_db


def smoothed_rows(energy: np.ndarray, centres: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    """(log mean energy over frames ``[c - half, c + half)`` for each centre ``c``, and
    whether that window lies wholly inside the recording)."""
    summed = np.concatenate([np.zeros((1, energy.shape[1])), np.cumsum(energy, axis=0)], axis=0)
    a = np.rint(centres - half).astype(np.int64)
    b = np.rint(centres + half).astype(np.int64)
    inside = (a >= 0) & (b <= len(energy)) & (b > a)
    a, b = np.clip(a, 0, len(energy)), np.clip(b, 0, len(energy))
    b = np.maximum(b, a + 1)
    b = np.minimum(b, len(energy))
    a = np.minimum(a, b - 1)
    mean = (summed[b] - summed[a]) / (b - a)[:, None]
    return np.log(np.maximum(mean, 1e-12)), inside


def slope_changes(rows: np.ndarray) -> np.ndarray:
    """(len(rows) - 1, bands - 1) changes of the band-to-band slope between consecutive
    rows (step 2 of the docstring): a bit is 1 where its change is positive."""
    slope = rows[:, :-1] - rows[:, 1:]
    return slope[1:] - slope[:-1]


def rows_to_bits(rows: np.ndarray) -> np.ndarray:
    """(len(rows) - 1, bands - 1) bits of consecutive rows (step 2 of the docstring)."""
    return slope_changes(rows) > 0


def pack(bits: np.ndarray) -> np.ndarray:
    """(n, 32) bits -> (n,) uint32, bit m of the code = column m."""
    return np.packbits(bits.astype(np.uint8), axis=1, bitorder="little").view("<u4").ravel().astype(np.uint32)


def row_centres(count: int, codes: CodeParams) -> np.ndarray:
    """The frame at the centre of each of ``count`` rows of a work."""
    return codes.window / 2 + codes.step * np.arange(count, dtype=np.float64)


def work_band_energy(spec_db: np.ndarray, config: AudioConfig = AudioConfig()) -> np.ndarray:
    """(frames, bands) band energies of a chunk of the work's log-power spectrum (step 1,
    before the averaging): ``landmarks.fingerprint`` takes them from the spectrum its peaks
    are picked on, so a work's spectrum is computed once."""
    lo, hi = band_edges(config.spectrum, config.codes)
    return band_energy(band_sums(spec_db), lo, hi).astype(np.float32)


def codes_from_energy(energy: np.ndarray, config: AudioConfig = AudioConfig()) -> np.ndarray:
    """The codes of a work's band energies over all its frames (``work_band_energy``, in
    frame order; step 1's averaging, then step 2): code ``i`` compares rows ``i`` and
    ``i + 1`` (``row_centres``)."""
    cp = config.codes
    count = (len(energy) - cp.window) // cp.step + 1 if len(energy) >= cp.window else 0
    if count < 2:
        return np.zeros(0, np.uint32)
    rows, _ = smoothed_rows(energy, row_centres(count, cp), cp.window / 2)
    return pack(rows_to_bits(rows))


def work_codes(samples: np.ndarray, config: AudioConfig = AudioConfig()) -> np.ndarray:
    """The codes of a recording already at ``config.spectrum.rate`` (steps 1-2), from its
    own spectrum, a chunk of ``SpectrumParams.chunk`` frames at a time."""
    sp = config.spectrum
    n_frames = 1 + (len(samples) - sp.n_fft) // sp.hop if len(samples) >= sp.n_fft else 0
    parts = [np.zeros((0, config.codes.bands), np.float32)]
    for start in range(0, n_frames, sp.chunk):
        end = min(start + sp.chunk, n_frames)
        parts.append(work_band_energy(spectrum_db(samples[start * sp.hop : (end - 1) * sp.hop + sp.n_fft], sp), config))
    return codes_from_energy(np.concatenate(parts), config)


def agreement(mismatched: int, compared: int) -> float:
    """``2 sqrt(n) (1/2 - BER)`` over ``n`` compared bits, ``mismatched`` of them differing."""
    if compared <= 0:
        return 0.0
    return float(2.0 * np.sqrt(compared) * (0.5 - mismatched / compared))


def _popcount(x: np.ndarray) -> int:
    return int(np.unpackbits(np.ascontiguousarray(x, np.uint32).view(np.uint8)).sum())


def read_along(evidence: QueryEvidence, codes: np.ndarray, speed: float, offset: float, pitch: float, q_lo: float,
               q_hi: float, config: AudioConfig = AudioConfig()) -> float:  # fmt: skip
    """``spectral`` of a work's ``codes`` along ``w = speed q + offset`` (seconds; work
    frequency = ``pitch`` x query frequency), over the codes whose rows map into query
    ``[q_lo, q_hi]``: the best over the line moved by up to ``CodeParams.shifts`` frames.
    0 where fewer than two rows fit."""
    sp, cp = config.spectrum, config.codes
    if not cp.enabled or len(codes) == 0:
        return 0.0
    fs = sp.frame_seconds
    centres = row_centres(len(codes) + 1, cp)
    half = cp.window / 2 / speed
    best = 0.0
    for shift in range(-cp.shifts, cp.shifts + 1):
        t_q = ((centres + shift) * fs - offset) / speed
        j0, j1 = np.searchsorted(t_q, [q_lo, q_hi], side="left")
        j1 = min(int(j1), len(codes) + 1)
        if j1 - j0 < 2:
            continue
        frames = t_q[j0:j1] / fs
        first = max(int(np.floor(frames[0] - half)) - 1, 0)
        last = min(int(np.ceil(frames[-1] + half)) + 1, evidence.n_frames)
        if last - first < 2:
            continue
        energy = evidence.band_energy(pitch, first, last)
        # A row whose window crosses the query's start or end is not compared.
        rows, inside = smoothed_rows(energy, frames - first, half)
        inside &= (frames - half >= 0) & (frames + half <= evidence.n_frames)
        ok = inside[1:] & inside[:-1]
        if not ok.any():
            continue
        change = slope_changes(rows)[ok]
        counted = np.abs(change) >= cp.flat  # silence, a steady tone: nothing to compare
        compared = int(counted.sum())
        if not compared:
            continue
        differ = (pack(change > 0) ^ codes[j0 : j1 - 1][ok]) & pack(counted)
        best = max(best, agreement(_popcount(differ), compared))
    return best
