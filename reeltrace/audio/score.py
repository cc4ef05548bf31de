"""Audio segment score: a logistic calibration of its landmark and verification evidence."""

from __future__ import annotations

import numpy as np

# Logistic calibration, fit by ``reeltrace.bench.audio.fit_calibration`` on the quick
# benchmark's segments (docs/audio.md, "Calibration"): score = 1 / (1 + exp(-z)),
# z = C0 + C_DISTINCT * ln(distinct) + C_DENSITY * density + C_VERIFIED * verified.
C0 = -37.218
C_DISTINCT = 7.8
C_DENSITY = 6.0
C_VERIFIED = 0.96
THRESHOLD = 0.5


def calibrated_score(distinct: int, density: float, verified: float = 0.0) -> float:
    """Score of a segment whose aligned landmarks carry ``distinct`` different hash values,
    ``density`` aligned landmarks per query landmark in its span, and whose verification
    found ``verified`` (``verify_alignment``). 0.5 (``THRESHOLD``) lies above the strongest
    unrelated segment of the benchmark by a margin (docs/audio.md)."""
    z = C0 + C_DISTINCT * np.log(max(distinct, 1)) + C_DENSITY * density + C_VERIFIED * verified
    return float(1.0 / (1.0 + np.exp(-z)))
