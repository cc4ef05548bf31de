"""The hostile-media fuzzer (``reeltrace bench --fuzz``) on a small seed set: no mutant may
crash a command (traceback, output that is not the report, a result count that is not the
input count) or hang it, and the real copy in each batch is still found.

The 24 mutants include the damaged sample table of issue 21 (the video track's ``stbl``
size set to 1, an entry count changed), which crashed ``scan`` and ``register`` before the
per-input error boundary; ``test_the_mutants_include_the_issue_21_sample_table`` keeps it so.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from helpers import run_cli

from reeltrace.bench import fuzz

FUZZ_COUNT = 24
"""Three rounds of the eight mutation kinds, over the three seed files."""


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory) -> tuple[str, dict]:
    """``reeltrace bench --fuzz 24 --seed 0 --out DIR``: its standard output and fuzz.json."""
    out = str(tmp_path_factory.mktemp("fuzz"))
    res = run_cli("bench", "--fuzz", str(FUZZ_COUNT), "--seed", "0", "--out", out)
    with open(os.path.join(out, "fuzz", "fuzz.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    assert res.code == (1 if report["crashes"] or report["hangs"] else 0), res.err
    return res.out, report


def test_no_mutant_crashes_or_hangs_a_command(fuzz_run):
    text, report = fuzz_run
    assert report["crashes"] == [], "\n".join(report["crashes"])
    assert report["hangs"] == []
    assert "crashes: 0\nhangs: 0\n" in text


def test_the_real_copy_is_found_in_every_batch(fuzz_run):
    _, report = fuzz_run
    assert report["batches"] == -(-FUZZ_COUNT // fuzz.BATCH)
    assert report["copy_found"] == report["batches"]


def test_the_mutants_are_mostly_refused_and_every_kind_is_tried(fuzz_run):
    """The fuzzer does damage: most mutants are refused by scan (each with its one-line
    error, checked by the run), and all eight kinds are tried, three times each."""
    _, report = fuzz_run
    assert report["mutants"] == FUZZ_COUNT
    assert report["by_kind"] == {kind: 3 for kind in fuzz.MUTATIONS}
    assert FUZZ_COUNT // 2 <= report["scan_errors"] <= FUZZ_COUNT
    assert report["register_errors"] + report["registered"] + report["already_registered"] == FUZZ_COUNT


def test_the_mutants_include_the_issue_21_sample_table(fuzz_run):
    _, report = fuzz_run
    broken = [
        m
        for m in report["mutant_list"]
        if m["kind"] == "sample table"
        and m["source"] == "picture and sound.mp4"
        and m["description"].startswith("moov/trak[0]/mdia/minf/stbl size 1,")
    ]
    assert broken, [m["description"] for m in report["mutant_list"] if m["kind"] == "sample table"]


def test_mutants_are_the_same_for_the_same_seed(tmp_path):
    """Seed media and mutants depend on the arguments only, so a reported mutant can be
    rebuilt; another seed gives other mutants."""

    def digests(folder: str, seed: int) -> list[str]:
        seeds = fuzz.make_seeds(os.path.join(folder, "seeds"), 2)
        mutants = fuzz.make_mutants(seeds, os.path.join(folder, "mutants"), 8, seed)
        return [hashlib.sha256(open(m.path, "rb").read()).hexdigest() for m in mutants]

    first = digests(str(tmp_path / "a"), 0)
    assert digests(str(tmp_path / "b"), 0) == first
    other = digests(str(tmp_path / "c"), 1)
    assert sum(a != b for a, b in zip(first, other, strict=True)) >= 6


def test_the_checks_call_a_traceback_or_a_missing_result_a_crash():
    """What the runner counts as a crash, on outputs as a crashing command printed them."""
    inputs = ["/m/0000 flip.mp4", "/m/real copy.mp4"]
    traceback = fuzz.Run([], 1, "", "Traceback (most recent call last):\n  ...\nAttributeError: 'NoneType'\n", 1.0)
    problems, _, _ = fuzz.check_scan(traceback, inputs, inputs[1], "w1")
    assert problems and "AttributeError" in problems[0]
    one_result = json.dumps({"results": [{"query": inputs[1], "error": None, "matches": [{"work_id": "w1"}]}]})
    problems, _, _ = fuzz.check_scan(fuzz.Run([], 0, one_result, "", 1.0), inputs, inputs[1], "w1")
    assert problems == ["scan of 2 inputs: 1 results for 2 inputs"]
    both = json.dumps({"results": [{"query": inputs[0], "error": "empty file", "matches": []},
                                   {"query": inputs[1], "error": None, "matches": [{"work_id": "w1"}]}]})  # fmt: skip
    problems, _, found = fuzz.check_scan(fuzz.Run([], 1, both, f"reeltrace: {inputs[0]}: empty file\n", 1.0), inputs, inputs[1], "w1")  # fmt: skip
    assert (problems, found) == ([], True)
    silent = fuzz.Run([], 1, "w2\tregistered\t/m/real copy.mp4\n", "", 1.0)
    problems, _, _ = fuzz.check_register(silent, inputs)
    assert any("0000 flip.mp4: 0 result lines and 0 error lines" in p for p in problems)
