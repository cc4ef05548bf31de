"""The benchmark's data set builder: a rendered query must be the excerpt its ground truth
says it is, whatever extra inputs its edits bring in (a logo, a picture-in-picture
background, new sound). A query that silently kept its whole source once made every
metric of a full benchmark run wrong."""

from __future__ import annotations

import os
import random

import pytest

from helpers import WORKS, run_cli, segments_of

from reeltrace.bench.video.dataset import check_render, duration_of, make_backdrop, make_logo, render
from reeltrace.bench.video.edits import EDITS, Context, Edit
from reeltrace.media.container import probe

pytestmark = pytest.mark.skipif(not __import__("shutil").which("ffmpeg"), reason="the builder needs ffmpeg")

START, LENGTH = 9.0, 8.0


@pytest.mark.parametrize("edits", [["logo"], ["pip_work_small"], ["new_audio", "pip_other_small"], ["speed"]])
def test_rendered_query_is_the_planned_excerpt(edits, tmp_path, work_files, distractor_file, library):
    rng = random.Random(7)
    ctx = Context(other_video=distractor_file, music=work_files["A"], logo=make_logo(str(tmp_path / "logo.png"), rng))
    if edits == ["speed"]:
        rng = random.Random(1)  # draws 1.25x
    chosen = [EDITS[name](rng, ctx) for name in edits]
    out = str(tmp_path / "query.mp4")
    speed = render(work_files["A"], START, LENGTH, chosen, out, has_audio=True, ctx=ctx)
    assert duration_of(out) == pytest.approx(LENGTH / speed, abs=0.3)

    best = _longest_found(library, out, "A")
    assert best["work_start"] == pytest.approx(START, abs=1.0), best
    assert best["work_end"] == pytest.approx(START + LENGTH, abs=1.0), best


def _longest_found(library: str, query: str, work: str, alone: bool = False) -> dict:
    """The longest segment of ``work`` that scanning ``query`` reports (with ``alone``: and
    no other work claimed)."""
    (result,) = run_cli("--library", library, "scan", query, "--format", "json").json()["results"]
    found = segments_of(result, WORKS[work].work_id)
    assert found, result
    if alone:
        assert {m["work_id"] for m in result["matches"]} <= {WORKS[work].work_id}, result
    return max(found, key=lambda s: s["query_end"] - s["query_start"])


def test_a_render_appears_whole_or_not_at_all_and_a_resumed_build_keeps_it(tmp_path, work_files):
    """A full build takes an hour; one that is interrupted resumes (``reuse``) from the
    queries it finished, so a query file must never exist half written."""
    ctx = Context()
    out = str(tmp_path / "query.mp4")
    speed = render(work_files["A"], 2.0, 3.0, [EDITS["speed"](random.Random(1), ctx)], out, True, ctx)
    written = os.stat(out).st_mtime_ns
    assert render(work_files["A"], 2.0, 3.0, [EDITS["speed"](random.Random(1), ctx)], out, True, ctx, reuse=True) == speed
    assert os.stat(out).st_mtime_ns == written

    broken = str(tmp_path / "broken.mp4")
    with pytest.raises(Exception):
        render(work_files["A"], 2.0, 3.0, [Edit("broken", "no_such_filter=1")], broken, True, ctx)
    assert not os.path.exists(broken)


def test_check_render_refuses_an_uncut_file(work_files):
    with pytest.raises(RuntimeError, match="planned"):
        check_render(work_files["A"], 8.0)
    check_render(work_files["A"], duration_of(work_files["A"]))


@pytest.mark.parametrize("layout", ["duet", "stitch", "grid2", "web_player", "screen_recording", "filmed_screen"])
def test_a_work_shown_in_part_of_the_frame_is_found_by_its_picture(layout, tmp_path, work_files, distractor_file, library):
    """The bench's sub-frame layouts (issue 15) render the planned excerpt, and the scan
    finds the work in them by picture: work B has no sound, the layout's other part is
    footage in no library."""
    rng = random.Random(3)
    ctx = Context(other_video=distractor_file)
    out = str(tmp_path / "query.mp4")
    speed = render(work_files["B"], START, LENGTH, [EDITS[layout](rng, ctx)], out, has_audio=False, ctx=ctx)
    assert duration_of(out) == pytest.approx(LENGTH / speed, abs=0.3)
    best = _longest_found(library, out, "B", alone=True)
    assert best["work_start"] == pytest.approx(START, abs=1.5), best


def test_a_broken_sound_file_gives_its_place_to_a_readable_one(tmp_path, work_files):
    from reeltrace.bench.video.dataset import _readable

    broken = tmp_path / "broken.ogg"
    broken.write_bytes(b"OggS" + bytes(400))
    pool = [str(broken), work_files["A"]]
    assert _readable(pool) == [work_files["A"], work_files["A"]]
    assert _readable([str(broken)]) == []


def test_without_other_footage_the_work_is_laid_over_a_generated_backdrop(tmp_path, work_files, library):
    """A bench on the film alone (no unregistered clips) still renders the edits that lay
    the work over other footage, on a generated backdrop that claims nothing."""
    backdrop = make_backdrop(str(tmp_path / "backdrop.mp4"), seed=3, seconds=12.0)
    ctx = Context(other_video=backdrop)
    out = str(tmp_path / "pip.mp4")
    has_audio = probe(work_files["B"]).has_audio
    speed = render(work_files["B"], 2.0, LENGTH, [EDITS["pip_styled"](random.Random(2), ctx)], out, has_audio, ctx=ctx)
    assert duration_of(out) == pytest.approx(LENGTH / speed, abs=0.3)
    assert _longest_found(library, out, "B", alone=True)["work_start"] == pytest.approx(2.0, abs=1.0)
    (alone,) = run_cli("--library", library, "scan", backdrop, "--format", "json").json()["results"]
    assert alone["matches"] == [] and alone["error"] is None
