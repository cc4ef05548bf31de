"""A library's catalogue on PostgreSQL (issue 17): a library folder made with ``init --catalogue
postgresql://...`` answers as the same library on SQLite; processes that share the folder (as
machines that mount it would) register into it at once without losing or doubling a work; a
register killed inside its transaction leaves nothing behind and holds no lock; and a catalogue
that cannot be had is one line, leaving the folder as it was. ``make test-backends``
(``pytest -m backend``), against a real PostgreSQL (tests/pgserver.py)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess

import pytest
from helpers import WORKS, reeltrace_command, run_cli, run_subprocess, subprocess_env, wait_until, work_ids
from pgserver import pg_server  # noqa: F401  (fixture)
from test_service import free_port

from reeltrace import holds
from reeltrace.library import CATALOGUE_FILE, STORE_FILE, Library
from reeltrace.video.index import IndexParams

pytestmark = pytest.mark.backend


def _init(folder: str, url: str) -> None:
    res = run_cli("--library", folder, "init", "--catalogue", url)
    assert res.code == 0, res.err
    assert "catalogue in postgresql://" in res.out


def _register(folder: str, work_files: dict[str, str], keys: str) -> None:
    for key in keys:
        spec = WORKS[key]
        res = run_cli("--library", folder, "register", work_files[key], "--id", spec.work_id, "--title", spec.title,
                      "--owner", spec.owner, "--category", spec.category)  # fmt: skip
        assert res.code == 0, res.err


def _scan(folder: str, path: str) -> dict:
    res = run_cli("--library", folder, "scan", path, "--format", "json")
    assert res.code == 0, res.err
    return res.json()


def _generation(folder: str) -> int:
    with Library(folder) as lib:
        return lib.store.generation()


@pytest.fixture(scope="module")
def pg_library(tmp_path_factory, pg_server, work_files, unrelated_file) -> str:  # noqa: F811
    """Works A, B and C registered as the shared library registers them, into a library made
    with ``init --catalogue``. Read-only."""
    folder = str(tmp_path_factory.mktemp("pg") / "library")
    _init(folder, pg_server.new_database("catalogue"))
    _register(folder, work_files, "ABC")
    assert run_cli("--library", folder, "scan", unrelated_file).code == 0
    return folder


def test_a_library_with_its_catalogue_on_postgres_answers_as_on_sqlite(
    pg_library, library, short_query, compilation, short_report, compilation_report
):
    assert _scan(pg_library, short_query[0]) == short_report
    assert _scan(pg_library, compilation[0]) == compilation_report
    names = set(os.listdir(pg_library))
    assert CATALOGUE_FILE in names and STORE_FILE not in names
    assert stat.S_IMODE(os.stat(os.path.join(pg_library, CATALOGUE_FILE)).st_mode) == 0o600  # the URL may hold a password
    same = ("work_id", "title", "owner", "category", "duration", "content_hash", "has_video", "has_audio", "frames")
    ours, theirs = (run_cli("--library", f, "works", "--format", "json").json()["works"] for f in (pg_library, library))
    assert [{k: w[k] for k in same} for w in ours] == [{k: w[k] for k in same} for w in theirs]


def test_edits_removals_and_a_rebuild_on_postgres(tmp_path, pg_server, work_files, short_query):  # noqa: F811
    folder = str(tmp_path / "library")
    _init(folder, pg_server.new_database())
    _register(folder, work_files, "AB")
    generation = _generation(folder)
    res = run_cli("--library", folder, "works", "edit", "work-a", "--title", "Alpha, recut")
    assert res.code == 0, res.err
    assert _generation(folder) == generation  # metadata only: no index change
    params = IndexParams(flat_limit=100)  # small enough that these works need a trained segment
    with Library(folder, index=params) as lib:
        lib.rebuild_index()
        status = lib.index_status()
    assert status["works"] == 2 and status["exact_vectors"] == 0 and [s["kind"] for s in status["segments"]] == ["base"]
    found = _scan(folder, short_query[0])["results"][0]["matches"]
    assert sorted(m["work_id"] for m in found) == ["work-a", "work-b"]
    assert {m["work_id"]: m["title"] for m in found}["work-a"] == "Alpha, recut"

    res = run_cli("--library", folder, "remove", "work-b")
    assert res.code == 0, res.err
    assert _generation(folder) == generation + 1
    assert [m["work_id"] for m in _scan(folder, short_query[0])["results"][0]["matches"]] == ["work-a"]
    assert work_ids(folder) == ["work-a"]


def _held_register(folder: str, path: str, work_id: str, hold_file: str) -> subprocess.Popen:
    """``register path --id work_id`` in a child, held (``holds``) after its rows are inserted,
    inside its transaction, until ``hold_file`` is removed."""
    open(hold_file, "w").close()
    env = subprocess_env() | {holds.HOLD_AT_ENV: "register:before-commit", holds.HOLD_FILE_ENV: hold_file}
    proc = subprocess.Popen(reeltrace_command("--library", folder, "register", path, "--id", work_id),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    wait_until(lambda: os.path.exists(holds.reached_marker(hold_file)) or proc.poll() is not None, "the hold", 300)
    assert proc.poll() is None, proc.communicate()
    return proc


def _waiting_on_a_lock(url: str) -> int:
    """Sessions of the database at ``url`` waiting for an advisory lock."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        return db.execute("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                          "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
                          ).fetchone()[0]  # fmt: skip


@pytest.mark.parametrize("second", ["same content", "another work"])
def test_a_register_waits_for_another_machine_s_transaction(tmp_path, pg_server, work_files, second):  # noqa: F811
    """A register held inside its transaction (its work inserted, not committed) holds the
    catalogue: another process's register of the same file under another id, or of another
    work, waits for it on the catalogue's lock, and when the first commits, the same content
    is told it is there and another work is registered after it. Without the lock, the
    same content's "is it here?" would not see the uncommitted row, and its insert would
    fail on the unique hash (a traceback), or two works would hold one content."""
    url = pg_server.new_database()
    folder = str(tmp_path / "library")
    _init(folder, url)
    first = _held_register(folder, work_files["A"], "work-a", str(tmp_path / "hold"))
    path, work_id = (work_files["A"], "work-a-again") if second == "same content" else (work_files["B"], "work-b")
    other = subprocess.Popen(reeltrace_command("--library", folder, "register", path, "--id", work_id),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())  # fmt: skip
    try:
        wait_until(lambda: _waiting_on_a_lock(url) == 1 or other.poll() is not None, "the second register to wait", 300)
        assert other.poll() is None, other.communicate()  # waiting, not done, while the first holds
    finally:
        os.unlink(str(tmp_path / "hold"))
    out_first, err_first = first.communicate(timeout=300)
    out_other, err_other = other.communicate(timeout=300)
    assert first.returncode == 0 and out_first.startswith("work-a\tregistered"), err_first
    if second == "same content":
        assert other.returncode == 0 and out_other.startswith("work-a\talready registered"), (out_other, err_other)
        assert work_ids(folder) == ["work-a"] and _generation(folder) == 1
    else:
        assert other.returncode == 0 and out_other.startswith("work-b\tregistered"), err_other
        assert work_ids(folder) == ["work-a", "work-b"] and _generation(folder) == 2


def test_a_register_killed_inside_its_transaction_leaves_nothing(tmp_path, pg_server, work_files):  # noqa: F811
    """SIGKILL a register held after its rows are inserted, before its commit: the server rolls
    the transaction back when the connection drops, the catalogue's lock goes with it, and the
    next register of the same file succeeds at once."""
    folder = str(tmp_path / "library")
    _init(folder, pg_server.new_database())
    _register(folder, work_files, "A")
    proc = _held_register(folder, work_files["B"], "work-b", str(tmp_path / "hold"))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)

    assert work_ids(folder) == ["work-a"] and _generation(folder) == 1
    res = run_cli("--library", folder, "register", work_files["B"], "--id", "work-b")
    assert res.code == 0, res.err
    assert work_ids(folder) == ["work-a", "work-b"] and _generation(folder) == 2


def test_a_catalogue_that_cannot_be_had_is_one_line(tmp_path, pg_server, library_copy):  # noqa: F811
    url = pg_server.new_database()
    cases = [
        (library_copy, url, f"catalogue is {STORE_FILE} already"),  # SQLite's already
        (str(tmp_path / "a"), "http://127.0.0.1/x", "give a PostgreSQL URL"),
        (str(tmp_path / "b"), "postgresql://someone:s3cret@127.0.0.1:1/x", "cannot connect to"),  # nothing listens
        (str(tmp_path / "b"), "postgresql://someone@127.0.0.1:1/x?password=s3cret", "cannot connect to"),
    ]
    for folder, target, said in cases:
        res = run_cli("--library", folder, "init", "--catalogue", target)
        assert res.code == 1 and said in res.err and len(res.err.strip().splitlines()) == 1, res.err
        assert "s3cret" not in res.err
    assert CATALOGUE_FILE not in os.listdir(str(tmp_path / "b"))  # a wrong URL is not remembered
    assert work_ids(library_copy) == ["work-a", "work-b", "work-c"]

    folder = str(tmp_path / "c")
    _init(folder, url)
    _init(folder, url)  # the same place again: nothing to do
    res = run_cli("--library", folder, "init", "--catalogue", pg_server.new_database())
    assert res.code == 1 and "cannot move to another database" in res.err, res.err
    named = os.path.join(folder, CATALOGUE_FILE)
    good = open(named).read()
    for damaged in ("{not json", '{"url": "' + url + '", "schema": null}', '{"url": "/tmp/x.sqlite", "schema": '
                    '"library_0123456789ab"}', "[]"):  # fmt: skip
        with open(named, "w") as fh:
            fh.write(damaged)
        res = run_cli("--library", folder, "works")
        assert res.code == 1 and "is damaged" in res.err and len(res.err.strip().splitlines()) == 1, res.err
    with open(named, "w") as fh:
        fh.write(good)
    open(os.path.join(folder, STORE_FILE), "w").close()  # a second catalogue beside the first
    res = run_cli("--library", folder, "works")
    assert res.code == 1 and "holds both" in res.err and len(res.err.strip().splitlines()) == 1, res.err

    # A library whose catalogue's server is down: every command, the service too, is one line.
    down = str(tmp_path / "down")
    os.makedirs(down)
    with open(os.path.join(down, CATALOGUE_FILE), "w") as fh:
        json.dump({"url": "postgresql://someone:s3cret@127.0.0.1:1/x", "schema": "library_0123456789ab"}, fh)
    for argv in (["works"], ["serve", "--port", str(free_port())]):
        done = run_subprocess("--library", down, *argv, timeout=120)
        assert done.returncode == 1 and "cannot connect to" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "s3cret" not in done.stderr, done.stderr
