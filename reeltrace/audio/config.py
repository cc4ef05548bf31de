"""Audio chain parameters: sampling, spectrum, peaks, landmark pairs, query hypotheses.

Every module of ``reeltrace.audio`` reads its numbers from here (see ``landmarks`` for
what each one does and the measurement behind it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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


@dataclass(frozen=True)
class MatchParams:
    bin_width: float = 0.1  # seconds of offset per vote bin
    min_hits: int = 5  # votes a bin needs to be looked at
    tolerance: float = 0.08  # seconds a hit may sit off its line (frame jitter, 2.5 hops)
    wide: float = 0.3  # first collection around the voted line, before the fit
    speed_slack: float = 0.03  # fitted speed within this fraction of the pass's
    max_gap: float = 3.0  # query seconds without a hit that end a segment
    min_segment_hits: int = 4
    max_candidates: int = 200  # vote bins examined, fullest first
    bucket_cap: float = 40.0  # skip query hashes held this many times more than average
    min_bucket_cap: int = 32


@dataclass(frozen=True)
class AudioConfig:
    """Everything the audio chain can be tuned by, passed in (``Library(audio=...)``)."""

    match: MatchParams = field(default_factory=MatchParams)
    threshold: float = 0.5  # segments scoring below this are not reported
