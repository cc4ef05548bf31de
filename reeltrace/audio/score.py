"""Audio segment score: a logistic calibration of its landmark and verification evidence."""

from __future__ import annotations

import numpy as np

from .config import AudioScoreModel


def score_logit(distinct: int, density: float, verified: float = 0.0, model: AudioScoreModel = AudioScoreModel(),
                spectral: float = 0.0) -> float:  # fmt: skip
    """The logit of ``calibrated_score`` (0 at a score of 0.5), unsaturated: segments that
    both score 1.0 in floating point still rank apart by it."""
    z = model.c0 + model.c_distinct * np.log(max(distinct, 1)) + model.c_density * density + model.c_verified * verified
    # Verification alone (``AudioScoreModel.verified_alone``): a copy under an overlay can
    # keep its peaks where it lost its pairs. A model that does not weigh verification
    # (c_verified 0: an ablation, a refit without it) has no such floor.
    if model.c_verified > 0:
        z = max(z, model.c_verified * (verified - model.verified_alone))
        # The spectral-shape codes agree (``AudioScoreModel.spectral_bar``); a work without
        # codes (registered before them) reads 0 and has no such floor.
        if spectral > 0:
            z = max(z, model.c_verified * (spectral + model.spectral_verified * verified - model.spectral_bar))
    return float(z)


def calibrated_score(distinct: int, density: float, verified: float = 0.0, model: AudioScoreModel = AudioScoreModel(),
                     spectral: float = 0.0) -> float:  # fmt: skip
    """Score of a segment whose aligned landmarks carry ``distinct`` different hash values,
    ``density`` aligned landmarks per query landmark in its span, and whose verification
    found ``verified`` (``verify_alignment``): ``1 / (1 + exp(-z))`` with
    ``z = c0 + c_distinct ln(distinct) + c_density density + c_verified verified``, the
    constants fit by ``reeltrace.bench.audio.calibration.fit_calibration`` on the quick
    benchmark's segments (docs/audio.md, "Calibration"). 0.5 (``AudioConfig.threshold``)
    lies above the strongest unrelated segment of the benchmark by a margin. A segment whose
    ``verified`` reaches ``verified_alone`` scores at least 0.5 whatever its pairs, and so
    does one whose spectral-shape codes agree (``spectral``, ``codes.read_along``) enough
    with its verification to reach ``spectral_bar`` (``score_logit``)."""
    return float(1.0 / (1.0 + np.exp(-score_logit(distinct, density, verified, model, spectral))))
