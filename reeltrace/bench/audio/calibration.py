"""Recalibrating the audio score on a run's segments: labelled rows (``calibration_rows``),
the fit (``fit_calibration``) and its cross-validated margin (``cross_validated_fit``)."""

from __future__ import annotations

import os

import numpy as np

from .dataset import Query, segment_ok


def calibration_rows(q: Query, raw: dict, path_of: dict[int, str]) -> list[dict]:
    """Every unthresholded audio segment of one scan (``ScanTrace.audio``: work key ->
    segments) as a labelled row for ``fit_calibration``: 1 where it places the query's
    excerpt in its own work, 0 for any other work or for a negative query. A segment of
    the right work elsewhere (a repeat in the music) gets no row."""
    rows = []
    for key, segs in raw.items():
        for s in segs:
            pos = q.truth is not None and path_of.get(key) == q.truth
            ok = pos and segment_ok(s, q)
            if pos and not ok and s.work_start > q.start - 2 and s.work_end < q.start + q.length + 2:
                ok = True  # the right place, bounds loose: still a true match
            if pos and not ok:
                continue
            e = s.audio
            rows.append({"label": int(ok), "hits": e.hits, "distinct": e.distinct, "density": round(e.density, 4),
                         "verified": round(e.verified, 3), "spectral": round(e.spectral, 3), "split": q.split, "edit": q.edit, "length": q.length,
                         "query": os.path.basename(q.path), "work": os.path.basename(path_of.get(key, "")),
                         "score": round(s.score, 4)})  # fmt: skip
    return rows


def fit_calibration(rows: list[dict], scale: float = 6.0, margin: float = 0.1, feature: str = "distinct") -> dict:
    """Refit ``calibrated_score`` on the benchmark's segments (``calibration.json``).

    The evidence of a segment is ``w ln(feature) + density + v verified``. On the "fit"
    half (queries of half the source tracks), for each pair of weights ``(w, v)`` the
    threshold ``t`` is put ``margin`` above the strongest negative's evidence and the
    positives above it counted; the pair with the most is kept. The logistic is then
    ``scale * (evidence - t)`` (so the strongest fit negative scores
    ``1 / (1 + exp(scale * margin))``); the "test" half reports recall and false positives
    at 0.5 on segments the fit never saw. Rows without ``verified`` (runs before
    verification) fit ``v = 0``.
    """

    def arr(split, label):
        sel = [r for r in rows if r["split"] in split and r["label"] == label]
        return (np.array([r[feature] for r in sel], float), np.array([r["density"] for r in sel], float),
                np.array([r.get("verified", 0.0) for r in sel], float))  # fmt: skip

    def evidence(part, w, v):
        values, density, verified = part
        return w * np.log(np.maximum(values, 1)) + density + v * verified

    fit_half = ("fit",) if any(r["split"] == "test" for r in rows) else ("fit", "test")
    best = None
    pos, neg = arr(fit_half, 1), arr(fit_half, 0)
    weights_v = np.arange(0.0, 0.41, 0.02) if any("verified" in r for r in rows) else [0.0]
    for w in np.arange(0.1, 1.51, 0.05):
        for v in weights_v:
            t = float(np.max(evidence(neg, w, v))) + margin if len(neg[0]) else 0.0
            recall = int(np.sum(evidence(pos, w, v) > t))
            if best is None or recall > best[0]:
                best = (recall, float(w), float(v), t)
    _, w, v, t = best
    test_pos, test_neg = arr(("test",), 1), arr(("test",), 0)
    return {
        "feature": feature, "C0": round(-scale * t, 3), "C_DISTINCT": round(scale * w, 3), "C_DENSITY": scale,
        "C_VERIFIED": round(scale * v, 3),
        "fit_pos": len(pos[0]), "fit_neg": len(neg[0]), "fit_recall": round(best[0] / max(len(pos[0]), 1), 4),
        "fit_max_negative_z": round(scale * (float(np.max(evidence(neg, w, v))) - t), 3) if len(neg[0]) else None,
        "test_pos": len(test_pos[0]), "test_neg": len(test_neg[0]),
        "test_recall": round(float(np.mean(evidence(test_pos, w, v) > t)), 4) if len(test_pos[0]) else None,
        "test_fp": int(np.sum(evidence(test_neg, w, v) > t)),
        "test_max_negative_z": round(scale * (float(np.max(evidence(test_neg, w, v))) - t), 3) if len(test_neg[0]) else None,
    }  # fmt: skip


def cross_validated_fit(rows: list[dict], margins=tuple(round(0.1 * i, 1) for i in range(1, 11))) -> dict:
    """``fit_calibration`` with the smallest margin that survives two-fold cross-validation.

    For each margin (smallest first) the score is fit on one half of the source tracks and
    checked on the other, both ways round; the first margin at which neither held-out half
    has a negative segment at 0.5 is kept, and the constants are then fit on both halves
    with it. The margin is how far unseen negatives may reach beyond the ones fit on: the
    weights chosen on 4,000 negatives moved the strongest of another 32,000 by 0.4.
    """
    swapped = [dict(r, split={"fit": "test", "test": "fit"}.get(r["split"], r["split"])) for r in rows]
    for margin in margins:
        one, other = fit_calibration(rows, margin=margin), fit_calibration(swapped, margin=margin)
        if one["test_fp"] == 0 and other["test_fp"] == 0:
            break
    both = fit_calibration([dict(r, split="fit") for r in rows], margin=margin)
    return dict(both, margin=margin, held_out=[one, other])
