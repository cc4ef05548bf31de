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
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import (
    LONG,
    PlannedClip,
    build_planned,
    check_clip_found,
    check_nothing_else,
    only_with_faiss,
    reeltrace_command,
    retarget,
    run_cli,
    run_subprocess,
    subprocess_env,
    work_ids,
)

from reeltrace import holds
from reeltrace.library import Library
from reeltrace.storage import vectors as vector_files
from reeltrace.video import codes
from reeltrace.video.index import IndexParams

FIRST_ID = "first-work"


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
    """The work that a complete, uninterrupted ``register`` of the long video (in a child
    process, as the killed ones run) stores."""
    lib = str(tmp_path_factory.mktemp("reference") / "library")
    shutil.copytree(first_library, lib)
    done = run_subprocess("--library", lib, "register", long_file)
    assert done.returncode == 0, done.stderr
    return run_cli("--library", lib, "works", "--format", "json").json()["works"][-1]


@pytest.fixture(scope="module")
def long_clip_query(media_dir, long_file) -> tuple[str, list]:
    """8 s taken from the middle of the long video (to check it is registered and indexed)."""
    path = os.path.join(media_dir, "long clip.mp4")
    return path, build_planned(path, [PlannedClip("L", 30.0, 8.0, label="L plain")], {"L": long_file})


def _db_stamp(lib: str) -> tuple[int, int]:
    st = os.stat(os.path.join(lib, "library.sqlite"))
    return st.st_size, st.st_mtime_ns


@dataclass(frozen=True)
class KillPoint:
    """Where a ``register`` is killed, and what the library must hold afterwards."""

    hold_at: str | None  # a reeltrace.holds point; None: as soon as the write-ahead log grows
    registered: bool | None  # the long video is in the library after the kill (None: either)
    written: bool  # the database may have been written to before the kill


KILL_POINTS = {
    "extracting": KillPoint("register:extracting", registered=False, written=False),
    "before write": KillPoint("register:before-write", registered=False, written=False),
    "before commit": KillPoint("register:before-commit", registered=False, written=True),
    "after commit": KillPoint("register:after-commit", registered=True, written=True),
    # Between the two above, while SQLite writes the transaction to the log: a torn write.
    # Where in the write the kill lands varies, so either outcome is whole.
    "log being written": KillPoint(None, registered=None, written=True),
}


def _kill_register(lib: str, long_file: str, point: KillPoint, hold_file: str) -> dict:
    """Start ``register long_file`` in a child, SIGKILL it at ``point``, return what was seen."""
    stamp = _db_stamp(lib)
    env = subprocess_env()
    if point.hold_at is not None:
        with open(hold_file, "w", encoding="utf-8"):
            pass
        env |= {holds.HOLD_AT_ENV: point.hold_at, holds.HOLD_FILE_ENV: hold_file}
    marker = holds.reached_marker(hold_file)
    proc = subprocess.Popen(reeltrace_command("--library", lib, "register", long_file),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    seen: dict = {"reached": False}
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if point.hold_at is not None:
                fire = os.path.exists(marker)
            else:
                fire = _wal_size(lib) > 0  # the work's transaction is being written
            if fire:
                seen = {"reached": True, "wal_before_kill": _wal_size(lib), "db_changed": _db_stamp(lib) != stamp}
                if point.hold_at is not None:
                    with open(marker, encoding="utf-8") as fh:
                        seen["held_pid"] = int(fh.read())
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.01 if point.hold_at is not None else 0.0005)
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=60)
    seen.update(pid=proc.pid, returncode=proc.returncode, out=out.decode(), err=err.decode())
    return seen


def _check_database(lib: str) -> list[str]:
    """PRAGMA integrity_check passes and every work has its frame descriptors (a complete
    file, by its checksum) and sound fingerprint (as it says it has); returns the work ids."""
    db = sqlite3.connect(os.path.join(lib, "library.sqlite"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        missing = db.execute(
            "SELECT work_id FROM works w"
            " WHERE (has_video AND NOT EXISTS (SELECT 1 FROM visual_vectors f WHERE f.work_key = w.key))"
            " OR (has_audio AND NOT EXISTS (SELECT 1 FROM audio_features a WHERE a.work_key = w.key))"
        ).fetchall()
        assert missing == [], "works without their descriptors or fingerprints"
        for file, digest, count in db.execute("SELECT file, checksum, vectors FROM visual_vectors"):
            assert vector_files.checksum(os.path.join(lib, file)) == digest, file
            assert len(vector_files.read(os.path.join(lib, file))) == count
        return [r[0] for r in db.execute("SELECT work_id FROM works ORDER BY key")]
    finally:
        db.close()


@pytest.mark.parametrize("where", list(KILL_POINTS))
def test_register_killed_part_way_leaves_the_library_whole(
    tmp_path, first_library, long_file, reference_register, short_query, long_clip_query, where
):
    """SIGKILL a ``register`` of a long video part-way (while extracting descriptors, before
    its write, inside its transaction, after its commit, or as the transaction is written):
    the database passes PRAGMA integrity_check, the first work is still listed and found by
    a scan, the long video is either wholly registered or not at all (registered exactly
    when the kill came after the commit), and registering it again succeeds and makes it
    findable."""
    point = KILL_POINTS[where]
    for attempt in range(3):
        lib = str(tmp_path / f"library-{attempt}")
        shutil.copytree(first_library, lib)
        seen = _kill_register(lib, long_file, point, str(tmp_path / "hold"))
        # Without a hold point the kill races the commit: on a loaded machine the register may
        # finish and print first. That try tested nothing; a fresh copy tries again.
        if point.hold_at is not None or (seen["returncode"] == -signal.SIGKILL and seen["out"] == ""):
            break
    assert seen["reached"], f"register never reached {where}: {seen}"
    assert seen["returncode"] == -signal.SIGKILL, f"register was not killed part-way: {seen}"
    assert seen.get("held_pid", seen["pid"]) == seen["pid"]
    assert seen["out"] == ""  # nothing reported as registered: the CLI prints after register returns
    if not point.written:
        assert seen["wal_before_kill"] == 0 and not seen["db_changed"], f"killed after the write began: {seen}"

    ids = _check_database(lib)
    if point.registered is None:
        assert ids in ([FIRST_ID], [FIRST_ID, ids[-1]])
    elif point.registered:
        assert ids == [FIRST_ID, reference_register["work_id"]]
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
    assert long_id == reference_register["work_id"]
    for key in ("duration", "frames", "content_hash", "has_video", "has_audio"):
        assert works[1][key] == reference_register[key], key
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


@only_with_faiss("Milvus Lite lets one process at a time open its folder (docs/scale-out.md); a Milvus server does not")
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


@only_with_faiss("FAISS' own index segments; a Milvus collection is rebuilt by test_vectors_milvus")
def test_an_index_rebuilt_from_stored_files_finds_what_registration_indexed(library_copy):
    """The descriptor files a registration leaves are all a rebuild needs: after a rebuild
    (with an exact part small enough that these works need a trained segment) every work is
    in one segment, and each stored vector, asked of the index, comes back as its own
    nearest neighbour with the same similarity as before the rebuild."""
    params = IndexParams(flat_limit=100)
    with Library(library_copy) as lib:
        index = lib.index()
        keys = [w.key for w in lib.works() if w.has_video]
        queries = np.concatenate([codes.decode(index.frames(k).codes[::5]) for k in keys])
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        before = index.search(queries, 4)
    with Library(library_copy, index=params) as lib:
        assert lib.index_status()["exact_vectors"] > params.flat_limit
        lib.rebuild_index()
    with Library(library_copy, index=params) as lib:
        status = lib.index_status()
        assert status["exact_vectors"] == 0 and [s["kind"] for s in status["segments"]] == ["base"]
        after = lib.index().search(queries, 4)
    assert np.array_equal(after.work_keys[:, 0], before.work_keys[:, 0])
    assert np.array_equal(after.frames[:, 0], before.frames[:, 0])
    assert np.allclose(after.similarities[:, 0], before.similarities[:, 0], atol=1e-5)
