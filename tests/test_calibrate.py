"""``scripts/calibrate.py`` labels the chains of a real scan's trace, the production path
(background penalty included), and reads their features from the trace's evidence."""

from __future__ import annotations

import importlib.util
import math
import os
import sys

import pytest
from helpers import SHORT_PLAN, WORKS

from reeltrace import Library

SCRIPT = os.path.join(os.path.dirname(__file__), os.pardir, "scripts", "calibrate.py")


@pytest.fixture(scope="module")
def calibrate():
    spec = importlib.util.spec_from_file_location("calibrate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["calibrate"] = module  # its dataclasses resolve their annotations there
    spec.loader.exec_module(module)
    yield module
    del sys.modules["calibrate"]


def test_chain_rows_label_a_real_scan_from_its_trace(calibrate, library_copy, short_query, work_files):
    """The short query shows B plain from 3 s, then A mirrored from 15 s. Taken as a
    positive of B, B's chain is true and placed within a second, A's chains are false;
    every row's features are the evidence the scan scored."""
    path, truths = short_query
    b_clip = next(t for t in truths if t.clip.work_id == WORKS["B"].work_id)
    assert SHORT_PLAN[1].source == "B"
    with Library(library_copy) as lib:
        keys = {w.work_id: w.key for w in lib.works()}
        trace = lib.scan(path, trace=True).trace
        step = lib.video.sample_step
    clips = {
        keys[spec.work_id]: calibrate.Clip(work_files[k], f"work_{k}.mp4", "gen", spec.duration, f"family-{k}")
        for k, spec in WORKS.items()
    }
    key_of = {clip.path: key for key, clip in clips.items()}
    query = dict(id="q", kind="pos", edit="none", family="family-B", src=work_files["B"], clip="query.mp4",
                 start=b_clip.clip.start - b_clip.clip.speed * b_clip.query_start, speed=b_clip.clip.speed)  # fmt: skip

    rows = calibrate.chain_rows(query, "A", trace, clips, key_of, step)

    segments = [(key, s) for key, segs in trace.video.items() for s in segs]
    assert len(rows) == len(segments) > 0
    for row, (key, segment) in zip(rows, segments):
        assert row["work"] == key and row["kind"] == "pos"
        assert (row["mean_sim"], row["frames"], row["coverage"]) == (
            segment.video.similarity, segment.video.frames, segment.video.coverage)  # fmt: skip
    on_b = [r for r in rows if r["work"] == keys[WORKS["B"].work_id]]
    assert max(on_b, key=lambda r: r["frames"])["label"] == "true"
    true = [r for r in on_b if r["label"] == "true"]
    assert all(r["err"] < 1.0 for r in true)
    assert {r["label"] for r in rows if r["work"] == keys[WORKS["A"].work_id]} == {"false"}
    assert all(math.isnan(r["err"]) for r in rows if r["label"] == "false")

    # The same chains against a wrong truth (the excerpt 20 s later) are misplaced.
    wrong = calibrate.chain_rows(dict(query, start=query["start"] + 20.0), "A", trace, clips, key_of, step)
    assert {r["label"] for r in wrong if r["work"] == keys[WORKS["B"].work_id]} == {"misplaced"}
