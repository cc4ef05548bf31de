"""The bench metrics on hand-made cases whose answers are worked out by hand."""

import math

import pytest

from reeltrace.bench.metrics import (
    Box,
    average_precision,
    intersection_length,
    localisation_errors,
    segment_prf,
    segment_uap,
    union_length,
    video_ap,
)


def test_interval_lengths():
    assert union_length([(0, 2), (1, 3), (5, 6)]) == 4
    assert union_length([]) == 0
    assert intersection_length([(0, 4)], [(2, 6), (3, 5)]) == 2


def test_perfect_prediction_scores_one():
    truth = [Box("q", "w", 10, 20, 100, 110)]
    pred = [Box("q", "w", 10, 20, 100, 110, 0.9)]
    assert segment_uap(truth, pred) == pytest.approx(1.0)
    prf = segment_prf(truth, pred, 0.5)
    assert (prf.precision, prf.recall, prf.f1) == pytest.approx((1.0, 1.0, 1.0))


def test_half_found_segment():
    # Prediction is the first half of the truth on both axes: precision 1, recall 1/2.
    truth = [Box("q", "w", 0, 10, 50, 60)]
    pred = [Box("q", "w", 0, 5, 50, 55, 0.8)]
    prf = segment_prf(truth, pred, 0.5)
    assert prf.precision == pytest.approx(1.0)
    assert prf.recall == pytest.approx(0.5)
    assert segment_uap(truth, pred) == pytest.approx(0.5)


def test_too_long_prediction_loses_precision():
    # Predicted 20 s on each axis where 10 s are true: P = 0.5, R = 1.
    truth = [Box("q", "w", 0, 10, 0, 10)]
    pred = [Box("q", "w", 0, 20, 0, 20, 1.0)]
    prf = segment_prf(truth, pred, 0.5)
    assert (prf.precision, prf.recall) == pytest.approx((0.5, 1.0))


def test_ranking_false_before_true_lowers_uap():
    truth = [Box("q1", "w", 0, 10, 0, 10), Box("q2", "w", 0, 10, 0, 10)]
    good1 = Box("q1", "w", 0, 10, 0, 10, 0.9)
    good2 = Box("q2", "w", 0, 10, 0, 10, 0.7)
    false = Box("q3", "w", 0, 10, 0, 10, 0.8)  # a query with no truth at all
    # Ranked: good1 (P=1, R=1/2), false (P=1/2, R=1/2), good2 (P=2/3, R=1).
    assert segment_uap(truth, [good1, false, good2]) == pytest.approx(0.5 * 1 + 0.5 * (2 / 3))
    # Without the false one: 1.0; with it last, nothing changes either.
    assert segment_uap(truth, [good1, good2]) == pytest.approx(1.0)
    assert segment_uap(truth, [good1, good2, Box("q3", "w", 0, 10, 0, 10, 0.1)]) == pytest.approx(1.0)


def test_wrong_work_time_is_not_a_hit():
    # Right query interval, wrong place in the work: the boxes do not overlap.
    truth = [Box("q", "w", 0, 10, 100, 110)]
    pred = [Box("q", "w", 0, 10, 300, 310, 0.9)]
    assert segment_uap(truth, pred) == 0.0
    assert segment_prf(truth, pred, 0.5).precision == 0.0


def test_geometric_mean_of_axes():
    # Query axis exact; work axis predicted 20 s for 10 true: P = sqrt(1 * 0.5).
    truth = [Box("q", "w", 0, 10, 0, 10)]
    pred = [Box("q", "w", 0, 10, 0, 20, 0.9)]
    assert segment_prf(truth, pred, 0.5).precision == pytest.approx(math.sqrt(0.5))


def test_threshold_filters_predictions():
    truth = [Box("q", "w", 0, 10, 0, 10)]
    preds = [Box("q", "w", 0, 10, 0, 10, 0.4)]
    assert segment_prf(truth, preds, 0.5).recall == 0.0
    assert segment_prf(truth, preds, 0.3).recall == pytest.approx(1.0)
    assert segment_prf([], [], 0.5).precision == 1.0


def test_video_level_ap():
    assert average_precision([(0.9, True), (0.8, False), (0.7, True)], 2) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([(0.9, True)], 2) == pytest.approx(0.5)  # one pair never found
    truth = [Box("q1", "a", 0, 5, 0, 5), Box("q2", "b", 0, 5, 0, 5)]
    preds = [Box("q1", "a", 0, 5, 0, 5, 0.6), Box("q1", "a", 6, 7, 6, 7, 0.9), Box("q2", "c", 0, 5, 0, 5, 0.95)]
    # Pairs: (q2,c) 0.95 false, (q1,a) 0.9 true; (q2,b) missed -> AP = (1/2) / 2.
    assert video_ap(truth, preds) == pytest.approx(0.25)


def test_localisation_error():
    truth = [Box("q", "w", 0, 10, 100, 110)]
    preds = [Box("q", "w", 0, 10, 100.5, 109.0, 0.9)]
    assert localisation_errors(truth, preds) == [pytest.approx(1.0)]
    assert localisation_errors(truth, []) == []


def test_claims_on_registered_clips_that_share_footage_are_neither_right_nor_wrong():
    """A query cut from a registered clip that shows another registered clip's footage
    (``dataset.SAME_FOOTAGE``) truly reuses both; the ground truth names one. A claim on
    the other is left out of precision (``run.sharing_pairs``), and a claim on any third
    work still counts as wrong."""
    from reeltrace.bench.metrics import Box
    from reeltrace.bench.video.dataset import SAME_FOOTAGE
    from reeltrace.bench.video.records import SystemRun
    from reeltrace.bench.video.run import evaluate, sharing_pairs

    recording, played = sorted(next(iter(SAME_FOOTAGE)))
    truth = {"works": [{"id": "rec", "path": "/m/" + recording}, {"id": "clip", "path": "/m/" + played},
                       {"id": "other", "path": "/m/video/x/other.mp4"}],
             "queries": [{"id": "q", "kind": "single", "edits": ["none"], "half": "tune",
                          "segments": [{"work": "rec", "query_start": 0, "query_end": 10, "work_start": 5, "work_end": 15}]}]}  # fmt: skip
    assert sharing_pairs(truth) == {("q", "clip")}
    run = SystemRun("t")
    run.predictions = [Box("q", "rec", 0, 10, 5, 15, 0.9), Box("q", "clip", 2, 6, 0, 4, 0.9)]
    assert evaluate(truth, run, 0.5)["wrong_work_claims"] == []
    run.predictions.append(Box("q", "other", 2, 6, 0, 4, 0.9))
    assert evaluate(truth, run, 0.5)["wrong_work_claims"] == [["q", "other"]]
    # An episode joined from the played clip shows its footage too (q0301 of the full
    # bench claimed one: the claim was right, and was counted wrong).
    truth["works"].append({"id": "episode", "path": "/b/works/episode0.mp4", "parts": ["/m/video/x/a.mp4", "/m/" + played]})
    assert sharing_pairs(truth) == {("q", "clip"), ("q", "episode")}
    run.predictions.append(Box("q", "episode", 2, 6, 0, 4, 0.9))
    assert evaluate(truth, run, 0.5)["wrong_work_claims"] == [["q", "other"]]
