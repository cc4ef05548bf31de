"""What a scan finds: reused clips of registered works, under edits, with the right times;
and nothing where nothing was reused."""

from __future__ import annotations

import pytest
from helpers import (
    COMPILATION_PLAN,
    WORKS,
    check_clip_found,
    check_nothing_else,
    overlap,
    run_cli,
)

REUSED = [i for i, p in enumerate(COMPILATION_PLAN) if p.work_id]
DISTRACTORS = [i for i, p in enumerate(COMPILATION_PLAN) if not p.work_id]


@pytest.mark.parametrize("index", REUSED, ids=[COMPILATION_PLAN[i].label for i in REUSED])
def test_compilation_reports_each_edited_clip_with_its_work_and_times(compilation, compilation_report, index):
    """Each reused clip of the compilation (mirrored, cropped and recoloured, 1.5x speed,
    letterboxed, low bit rate) is reported for the right work, with query and work bounds
    within 1.5 s of where the clip was taken from and put."""
    _, truths = compilation
    (result,) = compilation_report["results"]
    assert result["error"] is None
    check_clip_found(result, truths[index])


@pytest.mark.parametrize("index", DISTRACTORS, ids=[COMPILATION_PLAN[i].label for i in DISTRACTORS])
def test_compilation_reports_nothing_in_unregistered_stretches(compilation, compilation_report, index):
    """No segment of any work covers the inside of a stretch of unregistered footage."""
    _, truths = compilation
    (result,) = compilation_report["results"]
    d = truths[index]
    inner = (d.query_start + 1.5, d.query_end - 1.5)
    for match in result["matches"]:
        for s in match["segments"]:
            assert overlap(s["query_start"], s["query_end"], *inner) == 0, (match["work_id"], s, d.clip.label)


def test_compilation_reports_only_reused_works_and_segments(compilation, compilation_report):
    """Exactly the two reused works are reported (not the registered but unused work C),
    and every segment lies within a reused clip of its work."""
    _, truths = compilation
    (result,) = compilation_report["results"]
    assert {m["work_id"] for m in result["matches"]} == {"work-a", "work-b"}
    check_nothing_else(result, truths)


def test_compilation_duration_is_reported(compilation, compilation_report):
    _, truths = compilation
    (result,) = compilation_report["results"]
    assert result["duration"] == pytest.approx(truths[-1].query_end, abs=0.1)


def test_vertical_repost_is_found(library, vertical_query):
    """A 9:16 repost (the work in the middle band over a blurred, enlarged copy of itself)
    is reported for its work with the right times, and nothing else is."""
    path, truths = vertical_query
    res = run_cli("--library", library, "scan", path, "--format", "json")
    assert res.code == 0, res.err
    (result,) = res.json()["results"]
    check_clip_found(result, truths[1])
    check_nothing_else(result, truths)


def test_unrelated_video_is_clean(library, unrelated_file):
    """A video that shares nothing with the registered works has no matches, exit status 0."""
    res = run_cli("--library", library, "scan", unrelated_file, "--format", "json")
    assert res.code == 0, res.err
    (result,) = res.json()["results"]
    assert result["error"] is None
    assert result["matches"] == []
    assert result["duration"] == pytest.approx(20.0, abs=0.1)


def test_distractor_footage_alone_is_clean(library, distractor_file):
    """The distractor footage used in compilations matches no registered work on its own."""
    res = run_cli("--library", library, "scan", distractor_file, "--format", "json")
    assert res.code == 0, res.err
    assert res.json()["results"][0]["matches"] == []


def test_registered_file_matches_itself_end_to_end(library, work_files):
    """Scanning a registered work's own file reports that work alone, over its whole length,
    at the same times."""
    spec = WORKS["B"]
    res = run_cli("--library", library, "scan", work_files["B"], "--format", "json")
    assert res.code == 0, res.err
    (result,) = res.json()["results"]
    assert [m["work_id"] for m in result["matches"]] == [spec.work_id]
    segs = result["matches"][0]["segments"]
    assert min(s["query_start"] for s in segs) <= 1.0
    assert max(s["query_end"] for s in segs) >= spec.duration - 1.0
    for s in segs:
        assert s["work_start"] == pytest.approx(s["query_start"], abs=0.75)
        assert s["work_end"] == pytest.approx(s["query_end"], abs=0.75)
