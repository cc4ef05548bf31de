"""Records round-trip losslessly through JSON types (``reeltrace.roundtrip``)."""

from __future__ import annotations

import json

import numpy as np

from reeltrace.records import (
    AudioEvidence,
    RegisterResult,
    ScanResult,
    ScanTrace,
    Segment,
    VideoEvidence,
    Work,
    WorkMatch,
    valid_work_id,
)
from reeltrace.video.records import PairMatches


def _work(key: int = 7) -> Work:
    return Work("w1", "Night Radio 12", "Studio", "audio", 123.456789, "ab" * 32, "/srv/x.mp3",
                "2026-12-01T00:00:00+00:00", False, True, frames=0, key=key)  # fmt: skip


def _through_json(record):
    return type(record).from_dict(json.loads(json.dumps(record.to_dict())))


def test_a_scan_result_with_both_evidences_and_a_trace_round_trips_exactly():
    fused = Segment(1.0 / 3, 10.123456789, 2.5, 12.0, 0.987654321, speed=1.0 / 0.9, modality="audio+video",
                    video=VideoEvidence(17, 0.8123456789, 0.95), audio=AudioEvidence(40, 33, 0.41, 12.5, 0.98))  # fmt: skip
    sound = Segment(20.0, 25.0, 100.0, 105.5, 0.6, speed=1.1, modality="audio", audio=AudioEvidence(9))
    pair = PairMatches(7, np.array([0.0, 0.5, 0.5]), np.array([3.0, 3.5, 9.0]), np.array([0.9, 0.8, 0.41], np.float32))
    trace = ScanTrace(candidates={7: pair}, video={7: [fused]}, audio={7: [sound], 9: []})
    result = ScanResult("q.mp4", 61.25, None, [WorkMatch(_work(), "audio+video", 0.987654321, [fused, sound])], 1.5, trace)
    back = _through_json(result)
    assert back.matches == result.matches  # frozen records compare field by field
    assert back.matches[0].segments[0].video.similarity == 0.8123456789
    assert back.trace.video == trace.video and back.trace.audio == trace.audio
    got = back.trace.candidates[7]  # integer keys come back as integers, arrays with their dtype
    assert got.scores.dtype == np.float32 and np.array_equal(got.scores, pair.scores)
    assert np.array_equal(got.query_times, pair.query_times) and got.work_key == 7


def test_an_error_result_and_a_register_result_round_trip():
    failed = ScanResult("bad.mp4", error="not a readable media file")
    assert _through_json(failed) == failed
    registered = RegisterResult("x.mp3", _work(), created=True)
    assert _through_json(registered) == registered
    assert _through_json(RegisterResult("y.mp4", error="empty file")).work is None


def test_work_ids_are_validated_in_one_place():
    assert valid_work_id("film-1.v2_final") and valid_work_id("w" + "0" * 63)
    assert not valid_work_id("") and not valid_work_id(None) and not valid_work_id("-x") and not valid_work_id("a/b")
    assert not valid_work_id("w" + "0" * 64)
