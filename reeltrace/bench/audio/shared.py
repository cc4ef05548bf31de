"""Whether two registered tracks hold one recording where a scan says they share audio.

A scan that claims a second work on a stretch that a first work explains may say that the
two share the audio there (``Segment.shares_audio_with``: a medley's passage, a reused
sting or sample, issue 16). The bench checks such a claim on the two works themselves, not
on the query: their waveforms (8 kHz mono) are correlated along the alignment the two
segments imply, and at ``others`` other lags within ``reach`` seconds of it. A recording
both hold, even mixed with other parts, correlates sample by sample; the same notes played
again on the same instruments do not, however alike they sound. Measured on ufoai's
soundtrack: MarineUrbanWarfare from 48.1 s and MarineBacktheAttack 12.0 s later, where
excerpts of the first claim both and say so, 0.60-0.72 against 0.03-0.05 at the other lags
(four excerpts; a waveform cross-check of the whole tracks finds this lag the best of all);
van_mission 45.6 s / van_theme 100.75 s, one phrase played twice (docs/audio.md section 7),
0.13 against 0.04. ``SharedCheck.confirmed`` asks for 0.3 and twice the other lags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...media.sound import decode_audio_span

RATE = 8000


@dataclass(frozen=True)
class SharedCheck:
    """``at_claim``: the waveforms' correlation at the implied alignment (best within
    ``slack`` seconds of it); ``elsewhere``: the median of the same at the other lags."""

    at_claim: float
    elsewhere: float

    @property
    def confirmed(self) -> bool:
        # A shared recording stands far above the pair's other lags; 0.3 keeps a pair of
        # near-silent stretches (whose correlation is noise either way) from passing.
        return self.at_claim >= 0.3 and self.at_claim >= 2.0 * self.elsewhere


def _best_correlation(a: np.ndarray, b: np.ndarray, slack: int) -> float:
    """The largest normalised correlation of ``a`` with ``b`` shifted by up to ``slack``
    samples either way (``b`` holds ``slack`` extra samples on each side)."""
    n = len(a)
    if n == 0 or len(b) < n + 2 * slack:
        return 0.0
    size = 1 << int(np.ceil(np.log2(len(b) + n)))
    corr = np.fft.irfft(np.fft.rfft(a, size).conj() * np.fft.rfft(b, size), size)[: 2 * slack + 1]
    energy = np.sqrt(np.convolve(b * b, np.ones(n), "valid")[: 2 * slack + 1]) * np.linalg.norm(a)
    return float(np.max(np.abs(corr) / np.maximum(energy, 1e-9)))


def shared_recording(path_a: str, start_a: float, path_b: str, start_b: float, seconds: float,
                     slack: float = 0.06, reach: float = 20.0, others: int = 40) -> SharedCheck:  # fmt: skip
    """Whether ``path_a`` from ``start_a`` and ``path_b`` from ``start_b`` hold one
    recording over ``seconds``. ``slack`` covers the segments' timing (a few hops of the
    fingerprint)."""
    a = decode_audio_span(path_a, RATE, start_a, start_a + seconds).astype(np.float64)
    lo = max(start_b - reach - slack, 0.0)
    b = decode_audio_span(path_b, RATE, lo, start_b + reach + seconds + slack).astype(np.float64)
    pad, n = int(round(slack * RATE)), len(a)

    def at(lag_start: float) -> float:
        first = int(round((lag_start - lo) * RATE)) - pad
        if first < 0:
            return 0.0
        return _best_correlation(a, b[first : first + n + 2 * pad], pad)

    lags = np.linspace(-reach, reach, others)
    lags = lags[np.abs(lags) > 1.0]
    elsewhere = [at(start_b + lag) for lag in lags]
    elsewhere = [c for c in elsewhere if c > 0.0] or [0.0]
    return SharedCheck(round(at(start_b), 4), round(float(np.median(elsewhere)), 4))
