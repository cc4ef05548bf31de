"""Several processes on one library: a register killed part-way leaves the library whole
and usable, and concurrent scans agree."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time

import faiss
import numpy as np
import pytest
from helpers import (
    LONG,
    PlannedClip,
    build_planned,
    check_clip_found,
    check_nothing_else,
    reeltrace_command,
    retarget,
    run_cli,
    subprocess_env,
    work_ids,
)

from reeltrace.storage.store import Store
from reeltrace.video.index import VisualIndex

FIRST_ID = "first-work"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, all its threads (from /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _wal(lib: str) -> str:
    return os.path.join(lib, "library.sqlite-wal")


def _wal_size(lib: str) -> int:
    try:
        return os.path.getsize(_wal(lib))
    except OSError:
        return 0


@pytest.fixture(scope="module")
def first_library(tmp_path_factory, work_files, unrelated_file) -> str:
    """A library holding one work (A, as "first-work")."""
    lib = str(tmp_path_factory.mktemp("first") / "library")
    res = run_cli("--library", lib, "register", work_files["A"], "--id", FIRST_ID)
    assert res.code == 0, res.err
    # A first scan writes the library's caches (vector index, score background), so that
    # the copies each test makes start from a library as it is after ordinary use.
    assert run_cli("--library", lib, "scan", unrelated_file).code == 0
    return lib


@pytest.fixture(scope="module")
def reference_register(tmp_path_factory, first_library, long_file) -> dict:
    """A complete, uninterrupted ``register`` of the long video in a child process: the CPU
    seconds it spends before its transaction starts writing (kill points "during
    extraction" are placed at fractions of it, whatever the machine's speed; fractions of
    the whole run's CPU, which includes the write and the exit, sometimes landed after
    the write had begun) and the work it stores."""
    lib = str(tmp_path_factory.mktemp("reference") / "library")
    shutil.copytree(first_library, lib)
    proc = subprocess.Popen(reeltrace_command("--library", lib, "register", long_file),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env())  # fmt: skip
    cpu_before_write = 0.0
    while proc.poll() is None and _wal_size(lib) == 0:
        try:
            cpu_before_write = _cpu_seconds(proc.pid)
        except (OSError, IndexError, ValueError):
            break
        time.sleep(0.005)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert cpu_before_write > 0, "the reference register wrote before it could be measured"
    work = run_cli("--library", lib, "works", "--format", "json").json()["works"][-1]
    return {"cpu_before_write": cpu_before_write, "work": work}


@pytest.fixture(scope="module")
def long_clip_query(media_dir, long_file) -> tuple[str, list]:
    """8 s taken from the middle of the long video (to check it is registered and indexed)."""
    path = os.path.join(media_dir, "long clip.mp4")
    return path, build_planned(path, [PlannedClip("L", 30.0, 8.0, label="L plain")], {"L": long_file})


def _db_stamp(lib: str) -> tuple[int, int]:
    st = os.stat(os.path.join(lib, "library.sqlite"))
    return st.st_size, st.st_mtime_ns


def _kill_register(lib: str, long_file: str, phase: str, cpu_budget: float) -> dict:
    """Start ``register long_file`` in a child, SIGKILL it at ``phase``, return what was seen.

    ``late``: the kill came after the write had begun (the write-ahead log holds it) or
    was over (the log is checkpointed into the database file and removed at close)."""
    stamp = _db_stamp(lib)
    proc = subprocess.Popen(
        reeltrace_command("--library", lib, "register", long_file),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env(),
    )  # fmt: skip
    seen = {"wal_before_kill": 0, "cpu_at_kill": 0.0}
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                cpu = _cpu_seconds(proc.pid)
            except (OSError, IndexError, ValueError):
                break
            wal = _wal_size(lib)
            if phase == "commit":
                fire = wal > 0  # the work's transaction is being written
            else:
                fire = cpu >= cpu_budget
            if fire:
                seen = {"wal_before_kill": wal, "cpu_at_kill": cpu, "late": wal > 0 or _db_stamp(lib) != stamp}
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.0005 if phase == "commit" else 0.01)
    finally:
        if proc.poll() is None and time.monotonic() >= deadline:
            proc.kill()
        out, err = proc.communicate(timeout=60)
    seen.update(returncode=proc.returncode, out=out.decode(), err=err.decode())
    return seen


def _check_database(lib: str) -> list[str]:
    """PRAGMA integrity_check passes and every work has its frame descriptors and sound
    fingerprint (as it says it has); returns the work ids."""
    db = sqlite3.connect(os.path.join(lib, "library.sqlite"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        missing = db.execute(
            "SELECT work_id FROM works w"
            " WHERE (has_video AND NOT EXISTS (SELECT 1 FROM visual_features f WHERE f.work_key = w.key))"
            " OR (has_audio AND NOT EXISTS (SELECT 1 FROM audio_features a WHERE a.work_key = w.key))"
        ).fetchall()
        assert missing == [], "works without their descriptors or fingerprints"
        return [r[0] for r in db.execute("SELECT work_id FROM works ORDER BY key")]
    finally:
        db.close()


KILL_PHASES = {
    # phase: fraction of a registration's CPU time before its write at which to kill
    "early extraction": 0.35,
    "late extraction": 0.8,
    "commit": None,  # as soon as the work's transaction reaches the write-ahead log
}


LATE_RETRIES = 2  # a kill meant for extraction that lands after the write is tried again, earlier


@pytest.mark.parametrize("phase", list(KILL_PHASES))
def test_register_killed_part_way_leaves_the_library_whole(
    tmp_path, first_library, long_file, reference_register, short_query, long_clip_query, phase
):
    """SIGKILL a ``register`` of a long video part-way (while extracting descriptors, or as
    its transaction is written): the database passes PRAGMA integrity_check, the first work
    is still listed and found by a scan, the long video is either wholly registered or not
    at all (never while still extracting), and registering it again succeeds and makes it
    findable."""
    lib = str(tmp_path / "library")
    budget = (KILL_PHASES[phase] or 0) * reference_register["cpu_before_write"]
    for _ in range(LATE_RETRIES + 1):
        shutil.rmtree(lib, ignore_errors=True)
        shutil.copytree(first_library, lib)
        seen = _kill_register(lib, long_file, phase, budget)
        if phase == "commit" or not (seen.get("late") or seen["returncode"] == 0):  # 0: it finished first
            break
        # This run needed less CPU than the reference before its write (machines share
        # cores, CPU time varies by a fifth): the kill came too late to test extraction.
        budget *= 0.7
    assert seen["returncode"] == -signal.SIGKILL, f"register was not killed part-way: {seen}"
    if phase != "commit":
        assert seen["wal_before_kill"] == 0, f"killed after the write began: {seen}"
        assert seen["out"] == ""

    ids = _check_database(lib)
    if phase == "commit":
        assert ids in ([FIRST_ID], [FIRST_ID, ids[-1]])
    else:
        assert ids == [FIRST_ID]
    assert work_ids(lib) == ids

    scan = run_cli("--library", lib, "scan", short_query[0], "--format", "json")
    assert scan.code == 0, scan.err
    (result,) = scan.json()["results"]
    assert [m["work_id"] for m in result["matches"]] == [FIRST_ID]
    check_clip_found(result, retarget(short_query[1][2], FIRST_ID))  # A mirrored, registered as FIRST_ID

    again = run_cli("--library", lib, "register", long_file)
    assert again.code == 0, again.err
    long_id, status, _ = again.out.rstrip("\n").split("\t")
    assert status == ("already registered" if len(ids) == 2 else "registered")
    assert _check_database(lib) == [FIRST_ID, long_id]
    works = run_cli("--library", lib, "works", "--format", "json").json()["works"]
    reference = reference_register["work"]
    assert long_id == reference["work_id"]
    for key in ("duration", "frames", "content_hash", "has_video", "has_audio"):
        assert works[1][key] == reference[key], key
    assert works[1]["duration"] == pytest.approx(LONG.duration, abs=0.6)

    path, truths = long_clip_query
    scan = run_cli("--library", lib, "scan", path, "--format", "json")
    assert scan.code == 0, scan.err
    (result,) = scan.json()["results"]
    truth = retarget(truths[0], long_id)
    check_clip_found(result, truth)
    check_nothing_else(result, [truth])


def _same_matches(a: dict, b: dict, seconds: float = 0.05, score: float = 0.01) -> None:
    """The two results report the same works and segments, bounds within ``seconds`` and
    scores within ``score``."""
    assert (a["query"], a["error"]) == (b["query"], b["error"])
    ma = {m["work_id"]: m for m in a["matches"]}
    mb = {m["work_id"]: m for m in b["matches"]}
    assert sorted(ma) == sorted(mb)
    for work_id, m in ma.items():
        sa, sb = m["segments"], mb[work_id]["segments"]
        assert len(sa) == len(sb), (work_id, sa, sb)
        for x, y in zip(sa, sb, strict=True):
            for key in ("query_start", "query_end", "work_start", "work_end"):
                assert x[key] == pytest.approx(y[key], abs=seconds), (work_id, key, x, y)
            assert x["score"] == pytest.approx(y["score"], abs=score), (work_id, x, y)


def test_concurrent_scans_agree(library_copy, short_query, unrelated_file, short_report):
    """Two ``scan`` processes started together on one library, with no index cache so that
    both rebuild it at once, both succeed with the same report; a later lone scan (using the
    cache they left) gives it too, and it is the report of the shared library's own cache
    (to rounding: see test_index_cache_from_registration_equals_the_rebuilt_index)."""
    shutil.rmtree(os.path.join(library_copy, "index"))
    argv = reeltrace_command("--library", library_copy, "scan", short_query[0], unrelated_file, "--format", "json")
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert err == ""
    first, second = (json.loads(out) for out, _ in outs)
    assert first == second
    third = run_cli("--library", library_copy, "scan", short_query[0], unrelated_file, "--format", "json")
    assert third.code == 0, third.err
    assert third.json() == first
    assert [f for f in os.listdir(os.path.join(library_copy, "index")) if f.endswith(".tmp")] == []
    assert first["results"][1]["matches"] == []
    _same_matches(first["results"][0], short_report["results"][0])


def test_index_cache_from_registration_equals_the_rebuilt_index(library):
    """The vector index cache a registration leaves is the index that rebuilding it from the
    database gives: same vectors, so the same similarities for any query."""
    store = Store(os.path.join(library, "library.sqlite"))
    try:
        cache = os.path.join(library, "index", f"visual-{store.generation()}.faiss")
        assert os.path.exists(cache)
        cached = faiss.read_index(cache)
        rebuilt = VisualIndex.build(store, cached.d)
        _, items = store.visual_features()
        queries = [v for _, _, v in items]
    finally:
        store.close()
    queries = np.concatenate(queries)[::7]
    sims_cached, _ = cached.search(queries, 16)
    sims_rebuilt = rebuilt.search(queries, 16).similarities
    assert np.array_equal(sims_cached, sims_rebuilt), f"max difference {np.abs(sims_cached - sims_rebuilt).max()}"
