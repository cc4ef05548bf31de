"""Audio chain parameters, one frozen dataclass per concept, gathered in ``AudioConfig``.

Every function of ``reeltrace.audio`` takes the config (or the part it needs) as an
argument, its default instance as the default; nothing reads a tunable from a module
global. A variant is ``dataclasses.replace`` (``scripts/audio_variants.py``). The
reasoning and measurement behind each number sits beside its field (``landmarks`` has the
whole pipeline).

Units: a frame is one hop, ``hop / rate`` = 128 / 8000 = 16 ms (62.5 frames a second); a
bin is ``rate / n_fft`` = 15.625 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


FINGERPRINT_VERSION = 2
"""Bumped whenever a change alters the hashes a work gets; a library keeps the version its
works were hashed with, and its audio is not matched against hashes of another version."""


@dataclass(frozen=True)
class SpectrumParams:
    """Sampling and the short-time spectrum (steps 1-3 of ``landmarks``)."""

    rate: int = 8000  # Hz: telephone bandwidth, see landmarks step 1
    n_fft: int = 512  # samples per window (64 ms)
    hop: int = 128  # samples per frame (16 ms)
    f_min: int = 6  # bins: 94 Hz, the lowest a peak may lie at
    f_max: int = 250  # bins: 3.9 kHz, the highest
    whiten_half: int = 15  # bins each side in the whitening mean
    clamp_db: float = 40.0  # bins are raised to at least their frame's maximum minus this (0: off)
    chunk: int = 2048  # frames per spectrogram chunk (32.8 s): bounds memory for long works

    @property
    def frame_seconds(self) -> float:
        """Seconds per frame (one hop)."""
        return self.hop / self.rate


def _grid(lo: float, hi: float, step: float) -> np.ndarray:
    n = int(np.ceil(np.log(hi / lo) / np.log(1 + step)))
    return np.geomspace(lo, hi, n + 1)


def speed_hypotheses() -> tuple[tuple[float, float], ...]:
    """(time scale a, frequency scale b) per query pass: work time = a * query time, work
    frequency = b * query frequency. First the identity; then pitch-changing speeds
    0.8..1.25 (b = 1 / a), then tempo changes 0.9..1.1 (b = 1), on grids about 3% apart:
    a landmark hash survives about +-1.5% of scale error (docs/audio.md has the
    measurement), so neighbouring hypotheses overlap."""
    return tuple(
        dict.fromkeys(
            [(1.0, 1.0)]
            + [(round(float(a), 4), round(float(1 / a), 4)) for a in _grid(0.8, 1.25, 0.03)]
            + [(round(float(a), 4), 1.0) for a in _grid(0.9, 1.1, 0.03)]
        )
    )


@dataclass(frozen=True)
class LandmarkParams:
    """Peaks and the pairs hashed from them (steps 4-5 of ``landmarks``), work and query side.

    ``max_dt`` must fit the hash's 6-bit time field (``hashes.HASH_LAYOUT``); changing
    anything here but the query-side fields changes the hashes a work gets
    (``FINGERPRINT_VERSION``)."""

    peak_dt: int = 8  # frames (128 ms) each side of the local-maximum neighbourhood
    peak_df: int = 6  # bins (94 Hz) each side of the local-maximum neighbourhood
    floor_db: float = 70.0  # peaks this far below the file's loud level are ignored
    block: int = 64  # frames (1.024 s) per peak quota block
    peaks_per_block: int = 16
    fan_out: int = 4
    query_peaks_per_block: int = 16  # query side (denser query landmarks cost query time only)
    query_fan_out: int = 4
    max_dt: int = 63  # frames (1.008 s): target zone length (6 bits)
    max_df: int = 63  # bins (984 Hz): target zone height
    q: int = 2  # bins (31 Hz) per hash frequency step
    dense_query_seconds: float = 20.0  # queries up to this long get the second grid and dt +- 1
    hypotheses: tuple[tuple[float, float], ...] = field(default_factory=speed_hypotheses)


@dataclass(frozen=True)
class EvidenceParams:
    """The query's evidence map (``evidence.QueryEvidence``)."""

    half: int = 32  # frames (0.512 s) each side: the time window a query cell is ranked in
    bins: int = 1  # bins each side of a cell's frequency that its value is the maximum of


@dataclass(frozen=True)
class CodeParams:
    """Spectral-shape codes (``codes``), work side and their reading along a line.

    ``bands`` - 1 = 32 bits make one uint32 code: the band count is the code's format,
    like ``hashes.HASH_LAYOUT``; the band edges, window and step are read back with the
    codes, so changing them changes every stored code (re-register)."""

    enabled: bool = True  # False: no codes are made or read (the landmarks alone decide)
    bands: int = 33
    low_hz: float = 300.0
    high_hz: float = 3000.0
    window: int = 16  # frames (256 ms) a row averages
    step: int = 4  # frames (64 ms) between rows: one code
    shifts: int = 2  # frames each way the line is moved while reading (the line's own jitter)
    # A query bit whose slope change is under this (natural log, 0.04 dB) is not compared:
    # digital silence and a steady tone change by 0, and their all-0 bits agree with any
    # silence or tone of a work (a review found a 1 kHz leader claiming unrelated works).
    flat: float = 0.01


@dataclass(frozen=True)
class MatchParams:
    """Offset voting and segment building (``match``)."""

    bin_width: float = 0.1  # seconds of offset per vote bin
    min_hits: int = 5  # votes a bin needs to be looked at
    tolerance: float = 0.08  # seconds a hit may sit off its line (frame jitter, 5 hops)
    wide: float = 0.3  # first collection around the voted line, before the fit
    speed_slack: float = 0.03  # fitted speed within this fraction of the pass's
    max_gap: float = 3.0  # query seconds without a hit that end a segment
    min_segment_hits: int = 4
    max_candidates: int = 200  # vote bins examined, fullest first
    bucket_cap: float = 40.0  # skip query hashes held this many times more than average
    min_bucket_cap: int = 32
    density_span: float = 3.0  # seconds a segment's density is measured over, at least
    # Peak votes (``match._peak_vote_segments``): single peaks, not pairs, for queries up to
    # peak_vote_seconds long at native speed. Under a voice or a music bed 6 dB above the
    # work, a pair needs both of its peaks to survive and few do; single peaks survive far
    # more often. Measured on the quick bench's 5 s overlay queries: the true line was the
    # fullest (work, offset) bin for 21 of 24, the best chance bin held at most 11 votes
    # against 14-44 for the true ones. 48 peaks a block (3x the pairs' picking), bins of 2
    # frames on two grids, the 30 fullest verified.
    peak_votes: bool = True
    peak_vote_seconds: float = 20.0
    peak_vote_peaks_per_block: int = 48
    peak_vote_bin: int = 2  # frames
    peak_vote_candidates: int = 30


@dataclass(frozen=True)
class VerifyParams:
    """Reading a work's peaks on the query along a line (``verify.verify_alignment``)."""

    cost: float = 1.5  # evidence a work peak must beat to lengthen a verified stretch
    shift: int = 2  # frames (32 ms): the line may sit this far off the true alignment
    pad: float = 2.0  # query seconds beyond a segment's first and last hit that are verified
    group: int = 2  # frames (32 ms): work peaks closer than this in time are one instant
    # A run's window (its hits' span +- pad) is widened, at most `follow` times, while the
    # verified stretch ends within `edge` seconds of a side of it: where an overlay took most
    # landmark pairs the hits cover part of the copy, and the window cut the evidence there
    # (measured on the full bench's overlay and 0 dB noise queries, 336 positives: 231 -> 235
    # found, none lost; 156 negatives' strongest segment unchanged).
    follow: int = 4
    edge: float = 0.5
    # A weaker work on a stronger one's query stretch (``match._explain_away``): its peaks
    # within explain_dt frames and explain_df bins of the stronger work's read as chance.
    # 1 and 1: the catalogue study's two wrong claims kept 2.6 and 3.7 of 23.0 and 15.0
    # (2 and 2 removed more of two registered tracks mixed together, for nothing more).
    explain: bool = True  # False: every work is verified on its own (the behaviour before)
    explain_dt: int = 1
    explain_df: int = 1
    # ... unless its evidence there is at least this share of the stronger work's: then the
    # two works hold the same recording there (a medley, a reused sting) and both are
    # reported. Measured: 0.94 and 0.99 for a real medley's passage, 0.63-0.69 for a
    # synthetic one (each file picks its own peaks: quota blocks and loudness floor differ),
    # 0.21 and 0.23 for the wrong claims; 0.5 lies between.
    share_ratio: float = 0.5
    # An explained segment whose own evidence left is below this is at chance (chance lines
    # of 3-10 s queries verify to at most 13 on the quick bench): its landmark pairs are then
    # taken to lie on the stronger work's notes too and do not count. Measured on the full
    # bench: the claims of van_mission / van_theme kept 3.6-8.7 (at 0.52-0.98 on their pairs).
    explained_min_verified: float = 15.0


@dataclass(frozen=True)
class AudioScoreModel:
    """Logistic calibration of a segment's evidence (``score.calibrated_score``):
    score = 1 / (1 + exp(-z)), z = c0 + c_distinct ln(distinct) + c_density density +
    c_verified verified. Fit by ``reeltrace.bench.audio.calibration.fit_calibration`` on
    the quick benchmark's segments (docs/audio.md, "Calibration")."""

    c0: float = -37.218
    c_distinct: float = 7.8
    c_density: float = 6.0
    c_verified: float = 0.96
    # Verification alone is a claim from here, whatever the landmark pairs say: the score is
    # at least 1 / (1 + exp(-c_verified (verified - verified_alone))). The logistic above
    # asks 38.8 of a segment with no pair evidence (a peak-vote line), fit where pairs carry
    # most claims. Measured on the full audio bench (stop 28, 300,029 segments that place a
    # query on a wrong work or wrong place, 3813 queries): the strongest reaches 18.9, and
    # the tail above the 99.9th percentile (11.9) is exponential with scale 1.24 on the fit
    # half (1.16 on the other); 26 is where the fit half's tail expects one chance segment
    # in a million queries (22: one in 40,000).
    verified_alone: float = 26.0
    # The spectral-shape codes (``codes``): ``spectral + spectral_verified * verified`` is a
    # claim from ``spectral_bar`` (score >= 1 / (1 + exp(-c_verified (that - spectral_bar)))),
    # whatever the pairs say. Set on the fit half's chance segments of the product's own
    # scans (stop 31: the full audio bench's 3813 queries scanned with the codes, each
    # segment's explained-away state as the scan left it; docs/audio.md section 12): per
    # query, the strongest segment on a wrong work or a wrong place reaches 7.95 on the fit
    # half, 6.97 on the other (9.4-9.6 only where two tracks of one soundtrack share a
    # recording, section 9); above its 99th percentile (6.26) the fit half's tail is
    # exponential with scale 0.38, and 9.8 is where it expects one such query in a million.
    # (Stop 30 set 12.1 from the stop-28 scans, before the codes, with explaining away
    # approximated: that tail was heavier, scale 0.63.) The weight 0.2 (stop 30: the most
    # fit-half claims of 0 / 0.1 / 0.2 / 0.3 / 0.4) is within two fit-half queries of the
    # best of 0-0.25 on these scans.
    spectral_verified: float = 0.2
    spectral_bar: float = 9.8


@dataclass(frozen=True)
class AudioConfig:
    """Everything the audio chain can be tuned by, passed in (``Library(audio=...)``)."""

    spectrum: SpectrumParams = field(default_factory=SpectrumParams)
    landmarks: LandmarkParams = field(default_factory=LandmarkParams)
    evidence: EvidenceParams = field(default_factory=EvidenceParams)
    codes: CodeParams = field(default_factory=CodeParams)
    match: MatchParams = field(default_factory=MatchParams)
    verify: VerifyParams = field(default_factory=VerifyParams)
    score: AudioScoreModel = field(default_factory=AudioScoreModel)
    # Segments scoring below this are not reported: it lies above the strongest unrelated
    # segment of the benchmark by a margin (docs/audio.md).
    threshold: float = 0.5
