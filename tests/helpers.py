"""What the tests share besides fixtures: the media plan, ways to run the CLI, and the checks
of a scan report against the ground truth a test built."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import mediagen
import pytest

from reeltrace import cli

SHARED_VECTORS = os.environ.get("REELTRACE_TEST_VECTORS") or "faiss"
"""Where the shared library's vectors are (``conftest.library``): ``make test-backends``
runs the library suites again with ``REELTRACE_TEST_VECTORS=milvus-lite``."""


SHARED_CATALOGUE = os.environ.get("REELTRACE_TEST_CATALOGUE") or "sqlite"
"""Where the shared library's catalogue is: its folder's ``library.sqlite``, or (``postgres``,
as ``make test-backends`` runs the library suites) a database of the tests' own PostgreSQL."""


def only_with_faiss(reason: str) -> pytest.MarkDecorator:
    """Skip a test of the shared library when its vectors are elsewhere, saying why."""
    return pytest.mark.skipif(SHARED_VECTORS != "faiss", reason=reason)


@dataclass(frozen=True)
class WorkSpec:
    """A generated video: its seed, length and picture family, and (for the works the shared
    library registers) the metadata it is registered with."""

    key: str
    seed: int
    duration: float
    style: str
    work_id: str = ""
    title: str = ""
    owner: str = ""
    category: str = ""
    audio: bool = False


WORKS = {
    "A": WorkSpec("A", 11, 36.0, "noise", "work-a", "Alpha Film", "Studio Alpha", "film", audio=True),
    "B": WorkSpec("B", 22, 34.0, "warp", "work-b", "Bravo Drama", "Bravo Pictures", "drama"),
    "C": WorkSpec("C", 33, 30.0, "julia", "work-c", "Charlie Animation", "Charlie Animation Ltd", "animation"),
}
"""The works of the shared library."""
DISTRACTOR = WorkSpec("D", 44, 28.0, "ifs")
"""Footage in no library, put between the reused clips of queries."""
UNRELATED = WorkSpec("U", 55, 20.0, "leaves")
"""A video unrelated to every work, never registered."""
LONG = WorkSpec("L", 77, 64.0, "julia")
"""The long video that the kill tests register (in their own libraries, beside work A)."""


@dataclass(frozen=True)
class PlannedClip:
    """A clip of a query, by source key: A/B/C (registered works) or D (distractor)."""

    source: str
    start: float
    duration: float  # query seconds
    edit: str = "plain"  # name of a mediagen edit
    speed: float = 1.0
    bit_rate: int | None = None
    label: str = ""

    @property
    def work_id(self) -> str | None:
        return WORKS[self.source].work_id if self.source in WORKS else None


COMPILATION_PLAN = [
    PlannedClip("D", 0.0, 5.0, label="distractor 1"),
    PlannedClip("A", 5.0, 7.0, "mirror", label="A mirrored"),
    PlannedClip("B", 10.0, 7.0, "crop_and_colour", label="B cropped 20% and recoloured"),
    PlannedClip("D", 12.0, 5.0, label="distractor 2"),
    PlannedClip("A", 20.0, 6.0, speed=1.5, label="A at 1.5x speed"),
    PlannedClip("B", 22.0, 7.0, "letterbox", label="B letterboxed"),
    PlannedClip("A", 28.0, 6.0, bit_rate=60_000, label="A re-encoded at 60 kbit/s"),
    PlannedClip("D", 22.0, 5.0, label="distractor 3"),
]
"""The edited multi-work compilation: five reused clips of A and B, differently edited,
between three stretches of unregistered footage. C is registered but not used."""

VERTICAL_PLAN = [
    PlannedClip("D", 3.0, 4.0, "vertical", label="distractor"),
    PlannedClip("C", 8.0, 12.0, "vertical", label="C as a 9:16 repost"),
]
"""A vertical repost: C in the middle band of a 9:16 canvas over a blurred copy of itself."""

SHORT_PLAN = [
    PlannedClip("D", 0.0, 4.0, label="distractor"),
    PlannedClip("B", 3.0, 8.0, label="B plain"),
    PlannedClip("A", 15.0, 6.0, "mirror", label="A mirrored"),
]
"""A short query (B, then A mirrored) for the report-format, batch and process tests."""


def build_planned(path: str, plan: list[PlannedClip], files: dict[str, str], **kw) -> list[mediagen.Truth]:
    """Build the query of ``plan`` at ``path`` from the source ``files``; its ground truth."""
    clips = [
        mediagen.Clip(
            files[p.source], p.start, p.duration, getattr(mediagen, p.edit), p.speed, p.bit_rate, p.work_id, p.label
        )
        for p in plan
    ]
    return mediagen.build_query(path, clips, **kw)


# -- running the CLI ---------------------------------------------------------------------


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


def run_cli(*argv: str) -> CliResult:
    """``reeltrace.cli.main(argv)`` in this process: its exit status and what it printed.
    argparse usage errors (SystemExit) come back as their exit status too."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return CliResult(code, out.getvalue(), err.getvalue())


def subprocess_env() -> dict:
    env = dict(os.environ)
    env.pop("REELTRACE_LIBRARY", None)
    return env


def reeltrace_command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "reeltrace", *argv]


def run_subprocess(*argv: str, cwd: str | None = None, env: dict | None = None, timeout: float = 300):
    """``python -m reeltrace ARGV`` in a child process (a ``subprocess.CompletedProcess``)."""
    return subprocess.run(
        reeltrace_command(*argv),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env if env is not None else subprocess_env(),
        timeout=timeout,
    )


def wait_until(predicate, what: str, timeout: float) -> None:
    """Poll ``predicate`` until it holds; AssertionError naming ``what`` after ``timeout`` s
    (a bound for a hung test, never a measurement)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def work_ids(library: str) -> list[str]:
    res = run_cli("--library", library, "works", "--format", "json")
    assert res.code == 0, res.err
    return [w["work_id"] for w in res.json()["works"]]


# -- checking reports against ground truth -----------------------------------------------

TOLERANCE = 1.5
"""Seconds a reported bound may be off the truth (frames are sampled every 0.5 s)."""


def retarget(truth: mediagen.Truth, work_id: str) -> mediagen.Truth:
    """The same ground truth, for a library that registered the clip's source as ``work_id``."""
    return dataclasses.replace(truth, clip=dataclasses.replace(truth.clip, work_id=work_id))


def segments_of(result: dict, work_id: str) -> list[dict]:
    for match in result["matches"]:
        if match["work_id"] == work_id:
            return match["segments"]
    return []


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def check_clip_found(result: dict, truth: mediagen.Truth) -> None:
    """The reused clip is reported for its work, with query and work bounds within
    TOLERANCE of the truth (if it comes in several pieces, each maps query time to the
    right work time, and together they span the clip)."""
    segs = [
        s
        for s in segments_of(result, truth.clip.work_id)
        if overlap(s["query_start"], s["query_end"], truth.query_start, truth.query_end) >= 1.0
    ]
    where = (
        f"{truth.clip.label}: query {truth.query_start:.2f}-{truth.query_end:.2f} s shows "
        f"{truth.clip.work_id} {truth.work_start:.2f}-{truth.work_end:.2f} s"
    )
    assert segs, f"{where}: not reported; matches: {json.dumps(result['matches'])}"
    segs.sort(key=lambda s: s["query_start"])
    first, last = segs[0], segs[-1]
    assert abs(first["query_start"] - truth.query_start) <= TOLERANCE, (where, segs)
    assert abs(last["query_end"] - truth.query_end) <= TOLERANCE, (where, segs)
    assert abs(first["work_start"] - truth.work_start) <= TOLERANCE, (where, segs)
    assert abs(last["work_end"] - truth.work_end) <= TOLERANCE, (where, segs)
    for s in segs:
        assert abs(s["work_start"] - truth.work_time(s["query_start"])) <= TOLERANCE, (where, s)
        assert abs(s["work_end"] - truth.work_time(s["query_end"])) <= TOLERANCE, (where, s)


def check_nothing_else(result: dict, truths: list[mediagen.Truth]) -> None:
    """No work without a reused clip is reported, and every reported segment lies within a
    reused clip of its work (give or take TOLERANCE): nothing comes from the stretches of
    unregistered footage."""
    used = {t.clip.work_id for t in truths if t.clip.work_id}
    reported = {m["work_id"] for m in result["matches"]}
    assert reported <= used, f"works not in the query reported: {sorted(reported - used)}: {result['matches']}"
    for match in result["matches"]:
        for s in match["segments"]:
            explained = any(
                t.clip.work_id == match["work_id"]
                and s["query_start"] >= t.query_start - TOLERANCE
                and s["query_end"] <= t.query_end + TOLERANCE
                for t in truths
            )
            assert explained, f"segment of {match['work_id']} outside its reused clips: {s}"
