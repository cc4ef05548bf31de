"""Vectors on Milvus (issue 17), against Milvus Lite: a library whose index lives in a Milvus
collection answers as the same library on FAISS, a removed work is never matched again, and
a process killed between the database's write and Milvus' neither loses a registered work
nor brings a removed one back. ``make test-backends`` (``pytest -m backend``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
from helpers import WORKS, reeltrace_command, run_cli, subprocess_env, work_ids

from reeltrace import holds
from reeltrace.library import Library
from reeltrace.video import codes, milvus

pytestmark = pytest.mark.backend

LITE = "milvus-lite"  # a Milvus Lite folder in the library folder (milvus.db)


def _register_works(folder: str, work_files: dict[str, str]) -> None:
    for key, spec in WORKS.items():
        res = run_cli("--library", folder, "register", work_files[key], "--id", spec.work_id, "--title", spec.title,
                      "--owner", spec.owner, "--category", spec.category)  # fmt: skip
        assert res.code == 0, res.err
        assert res.out.split("\t")[0] == spec.work_id, res.out


@pytest.fixture(scope="module")
def milvus_library(tmp_path_factory, work_files, unrelated_file) -> str:
    """Works A, B and C registered as the shared FAISS library registers them, into a library
    made with ``init --vectors milvus-lite``. Read-only: copy it (``milvus_copy``)."""
    folder = str(tmp_path_factory.mktemp("milvus") / "library")
    res = run_cli("--library", folder, "init", "--vectors", LITE)
    assert res.code == 0, res.err
    assert "vectors on milvus-lite" in res.out
    _register_works(folder, work_files)
    assert run_cli("--library", folder, "scan", unrelated_file).code == 0
    return folder


@pytest.fixture
def milvus_copy(milvus_library, tmp_path) -> str:
    dest = str(tmp_path / "library")
    shutil.copytree(milvus_library, dest)  # the Milvus Lite folder too: released when each command closed
    return dest


def _scan(folder: str, path: str) -> dict:
    res = run_cli("--library", folder, "scan", path, "--format", "json")
    assert res.code == 0, res.err
    return res.json()


def _status(folder: str) -> dict:
    res = run_cli("--library", folder, "index", "status")
    assert res.code == 0, res.err
    return json.loads(res.out)


def _key(folder: str, work_id: str) -> int:
    with Library(folder) as lib:
        return lib.work(work_id).key


def _milvus_count(folder: str, key: int | None = None) -> int:
    """Vectors the library's collection holds (of the work with ``key`` only, if given)."""
    with Library(folder) as lib:
        return lib._vectors_on().count(key) or 0


def test_a_library_on_milvus_answers_as_the_same_on_faiss(milvus_library, library, short_query, compilation,
                                                          short_report, compilation_report):  # fmt: skip
    assert _scan(milvus_library, short_query[0]) == short_report
    assert _scan(milvus_library, compilation[0]) == compilation_report
    status = _status(milvus_library)
    assert status["vectors_on"] == LITE and status["exact_vectors"] == 0 and status["pending_intents"] == 0
    assert status["segments"] == [{"id": "milvus", "kind": "milvus", "vectors": status["vectors"]}]
    assert status["collection_vectors"] == status["vectors"] > 0
    assert "vectors_on" not in _status(library)  # a FAISS library's status is as it was

    # Below the reports: the same neighbours, with the same similarities, for descriptors
    # near every work's stored ones.
    with Library(library) as faiss_lib, Library(milvus_library) as milvus_lib:
        rng = np.random.default_rng(0)
        stored = [codes.decode(np.asarray(faiss_lib.index().frames(w.key).codes[::3])) for w in faiss_lib.works()]
        queries = np.concatenate(stored)
        queries = queries + 0.04 * rng.normal(size=queries.shape).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        a, b = faiss_lib.index().search(queries, 64), milvus_lib.index().search(queries, 64)
        assert np.array_equal(a.work_keys, b.work_keys) and np.array_equal(a.frames, b.frames)
        assert np.allclose(a.similarities, b.similarities, atol=1e-5)


def test_init_moves_a_faiss_library_to_milvus_and_back(library_copy, short_query, short_report):
    res = run_cli("--library", library_copy, "init", "--vectors", LITE)
    assert res.code == 0, res.err
    assert "3 works" in res.out
    assert _status(library_copy)["exact_vectors"] == 0
    assert _scan(library_copy, short_query[0]) == short_report
    res = run_cli("--library", library_copy, "init", "--vectors", "faiss")
    assert res.code == 0, res.err
    status = _status(library_copy)
    assert "vectors_on" not in status and status["segments"] == []
    assert _scan(library_copy, short_query[0]) == short_report


def test_a_removed_work_is_never_matched_again(milvus_copy, short_query):
    key = _key(milvus_copy, "work-b")
    before = _scan(milvus_copy, short_query[0])
    assert "work-b" in [m["work_id"] for m in before["results"][0]["matches"]]
    res = run_cli("--library", milvus_copy, "remove", "work-b")
    assert res.code == 0, res.err
    after = _scan(milvus_copy, short_query[0])
    assert [m["work_id"] for m in after["results"][0]["matches"]] == ["work-a"]
    assert _milvus_count(milvus_copy, key) == 0
    assert _status(milvus_copy)["pending_intents"] == 0


def test_vectors_uris():
    assert milvus.parse(None) == milvus.parse("faiss") == milvus.FAISS and not milvus.FAISS.remote
    lite = milvus.parse("milvus-lite")
    assert lite.lite and (lite.uri, lite.collection, lite.index_type) == ("milvus.db", "reeltrace", "FLAT")
    assert milvus.parse("milvus-lite:v/x.db?index=hnsw").uri == "v/x.db"
    assert milvus.parse("milvus-lite?index=HNSW").index_type == "HNSW"
    server = milvus.parse("milvus://m.internal/films?db=rt")
    assert not server.lite and (server.uri, server.collection, server.database, server.index_type) == \
        ("http://m.internal:19530", "films", "rt", "HNSW")  # fmt: skip
    assert milvus.parse("milvus+https://m.internal:443/films?index=IVF_PQ").uri == "https://m.internal:443"
    for bad in ("milvus://", "milvus://u:p@h/c", "milvus://h/c?index=ANNOY", "milvus://h/c?nlist=4", "milvus-lite:x",
                "milvus://h/1c", "postgresql://h/c"):
        with pytest.raises(milvus.StoreError):
            milvus.parse(bad)


def test_a_bad_vectors_uri_or_another_librarys_collection_is_refused(tmp_path):
    res = run_cli("--library", str(tmp_path / "a"), "init", "--vectors", "milvus:/nowhere")
    assert res.code == 1 and "expected faiss, milvus-lite" in res.err
    shared = str(tmp_path / "shared.db")
    assert run_cli("--library", str(tmp_path / "a"), "init", "--vectors", f"milvus-lite:{shared}").code == 0
    res = run_cli("--library", str(tmp_path / "b"), "init", "--vectors", f"milvus-lite:{shared}")
    assert res.code == 1 and "another library's vectors" in res.err


# -- killed between the database's write and Milvus' --------------------------------------------


def _kill_at(point: str, hold_file: str, *argv: str) -> None:
    """Run ``reeltrace ARGV`` in a child and SIGKILL it once it holds at ``point``."""
    with open(hold_file, "w", encoding="utf-8"):
        pass
    env = subprocess_env() | {holds.HOLD_AT_ENV: point, holds.HOLD_FILE_ENV: hold_file}
    marker = holds.reached_marker(hold_file)
    proc = subprocess.Popen(reeltrace_command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline and not os.path.exists(marker):
            time.sleep(0.02)
        assert os.path.exists(marker), f"never reached {point}: {proc.communicate(timeout=60)}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("point", ["register:after-commit", "vectors:upserted"])
def test_a_register_killed_before_milvus_has_the_work_loses_nothing(milvus_copy, distractor_file, compilation,
                                                                     compilation_report, tmp_path, point):  # fmt: skip
    _kill_at(point, str(tmp_path / "hold"), "--library", milvus_copy, "register", distractor_file, "--id", "work-d")
    assert work_ids(milvus_copy) == ["work-a", "work-b", "work-c", "work-d"]  # registered: committed first
    status = _status(milvus_copy)
    assert status["exact_vectors"] > 0  # not in the collection yet as far as the database knows ...
    if point == "vectors:upserted":  # ... though its vectors are there: never counted twice
        assert _milvus_count(milvus_copy, _key(milvus_copy, "work-d")) == status["exact_vectors"]
        assert status["pending_intents"] == 1
    found = _scan(milvus_copy, compilation[0])  # searched exactly meanwhile: the distractor clips are its
    assert "work-d" in [m["work_id"] for m in found["results"][0]["matches"]]
    assert [m for m in found["results"][0]["matches"] if m["work_id"] != "work-d"] == \
        compilation_report["results"][0]["matches"]  # fmt: skip

    res = run_cli("--library", milvus_copy, "index", "rebuild")
    assert res.code == 0, res.err
    status = _status(milvus_copy)
    assert status["exact_vectors"] == 0 and status["pending_intents"] == 0
    assert status["collection_vectors"] == status["vectors"]
    assert _scan(milvus_copy, compilation[0]) == found


def test_a_remove_killed_before_milvus_forgets_the_work_never_matches_it(milvus_copy, compilation, tmp_path):
    key = _key(milvus_copy, "work-a")
    _kill_at("remove:committed", str(tmp_path / "hold"), "--library", milvus_copy, "remove", "work-a")
    assert work_ids(milvus_copy) == ["work-b", "work-c"]  # removed: committed first
    assert _milvus_count(milvus_copy, key) > 0  # its vectors are still in the collection ...
    found = _scan(milvus_copy, compilation[0])
    assert [m["work_id"] for m in found["results"][0]["matches"]] == ["work-b"]  # ... and never match
    assert _status(milvus_copy)["pending_intents"] == 1

    # The next write that touches Milvus finishes the job (here a remove of another work).
    assert run_cli("--library", milvus_copy, "remove", "work-c").code == 0
    assert _milvus_count(milvus_copy, key) == 0
    assert _status(milvus_copy)["pending_intents"] == 0
    assert _scan(milvus_copy, compilation[0]) == found


def test_a_collection_lost_is_put_back_by_index_rebuild(milvus_copy, short_query, short_report):
    with Library(milvus_copy) as lib:
        lib._vectors_on().drop()
        lib._vectors_on().prepare(lib.embedder.dim)  # an empty collection: what a wiped cluster gives back
    assert [m["work_id"] for m in _scan(milvus_copy, short_query[0])["results"][0]["matches"]] == []
    res = run_cli("--library", milvus_copy, "index", "rebuild")
    assert res.code == 0, res.err
    assert "3 works" in res.out
    assert _scan(milvus_copy, short_query[0]) == short_report
    assert milvus.parse(LITE).index_type == "FLAT"


def test_a_move_to_milvus_killed_half_way_leaves_the_library_as_it_was(library_copy, short_query, short_report,
                                                                       tmp_path):  # fmt: skip
    _kill_at("vectors:upserted", str(tmp_path / "hold"), "--library", library_copy, "init", "--vectors", LITE)
    status = _status(library_copy)
    assert "vectors_on" not in status and status["exact_vectors"] == status["vectors"]  # on FAISS, as it was
    assert _scan(library_copy, short_query[0]) == short_report
    res = run_cli("--library", library_copy, "init", "--vectors", LITE)  # the upserts again, then the move
    assert res.code == 0, res.err
    status = _status(library_copy)
    assert status["vectors_on"] == LITE and status["exact_vectors"] == 0 and status["pending_intents"] == 0
    assert _scan(library_copy, short_query[0]) == short_report
