"""The service on PostgreSQL (``--database postgresql://...``), against a real PostgreSQL
server (tests/pgserver.py: Debian's package, in a temporary folder) and real service
processes.

- The service database's behaviours, on both backends (SQLite and PostgreSQL): accounts,
  the queue's claims and guarded finishes, work id reservations, monitor events, claims'
  guarded changes, several processes' workers claiming at once, and the leases.
- One server on PostgreSQL: registrations and scans, isolation, a rights check, a claim
  and its dispute.
- Two servers on one database and one library folder: one queue, each job done once and
  the jobs split between them; a server killed mid-job has its job taken by the other once
  its lease runs out, and a live server's jobs are never taken.

All marked ``backend`` (``make test-backends``).
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from helpers import run_cli, wait_until
from pgserver import pg_server  # noqa: F401  (the session fixture)
from test_service import ADMIN_TOKEN, WAIT, Server, client, make_accounts, make_media, upload, wait_job

pytestmark = pytest.mark.backend

MATCH = {"work_id": "w1", "title": "T", "owner": "O", "modality": "video", "match_score": 0.9, "query_start": 0.0,
         "query_end": 4.0, "work_start": 2.0, "work_end": 6.0, "score": 0.8}  # fmt: skip


def _psycopg():
    import psycopg

    return psycopg


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    """Where a ``ServiceDB`` lives: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "service.sqlite")
    return request.getfixturevalue("pg_server").new_database()


def _open(target: str, **kw):
    from reeltrace.service.db import ServiceDB

    return ServiceDB(target, **kw)


# -- the service database, on both backends ------------------------------------------------


def test_accounts_jobs_and_work_ids(target):
    from reeltrace.service.db import ServiceError

    db = _open(target)
    try:
        admin, token = db.create_account("admin", "admin")
        owner, _ = db.create_account("studio", "owner", owner_name="Studio")
        assert db.account_by_token(token) == admin and db.account(owner.id).display_owner == "Studio"
        with pytest.raises(ServiceError, match="already exists"):
            db.create_account("studio", "scanner")
        assert [a.name for a in db.accounts()] == ["admin", "studio"]  # the failed insert left nothing
        assert db.has_admin()

        # A job: claimed once, finished once (a stale attempt cannot finish it again).
        job = db.add_job("scan", admin.id, "clip.mp4", {"path": "/x/clip.mp4"})
        claimed = db.claim_job()
        assert (claimed.id, claimed.status, claimed.attempts, claimed.claimed_by) == (job.id, "running", 1, db.instance)
        assert db.claim_job() is None
        assert db.finish_job(claimed, {"matches": []}, None, [MATCH, {**MATCH, "query_start": 5.0}], record={"r": 1})
        assert not db.finish_job(claimed, {"matches": []}, None, [MATCH])
        done = db.job(job.id)
        assert (done.status, done.result, done.record) == ("done", {"matches": []}, {"r": 1})
        rows = db.matches(scan_id=job.id)
        assert len(rows) == 2 and rows[0]["id"] > rows[1]["id"] and rows[0]["query_start"] == 5.0
        assert isinstance(rows[0]["score"], float) and rows[0]["score"] == 0.8  # a double, not a 32-bit real

        # Work ids: reserved by one job only, registered, tombstoned when deleted.
        reg = db.add_job("register", owner.id, "a.mp4", {}, work_id="w-mine")
        assert reg is not None and db.add_job("register", owner.id, "b.mp4", {}, work_id="w-mine") is None
        assert db.work_id_holder("w-mine") == (reg.id, "reserved")
        db.work_registered("w-mine", reg.id, owner.id)
        db.set_work_account("w-mine", owner.id)  # again: an upsert, not a second row
        assert db.work_account("w-mine") == owner.id and db.work_accounts() == {"w-mine": owner.id}
        db.set_work_account("w-mine", admin.id)
        assert db.work_account("w-mine") == admin.id
        db.forget_work("w-mine")
        assert db.work_id_holder("w-mine") == (reg.id, "deleted") and db.work_account("w-mine") is None
        assert db.add_job("register", owner.id, "c.mp4", {}, work_id="w-mine") is None
        assert [j.id for j in db.jobs()] == [reg.id, job.id]
    finally:
        db.close()


def test_monitor_events_are_bounded_and_a_reuse_is_one_match_row(target):
    from test_monitors import check_stored_events

    db = _open(target)
    try:
        check_stored_events(db)
    finally:
        db.close()


def test_claims_change_once_and_expire_once(target):
    from reeltrace.rights.policy import Policy, Reuse
    from reeltrace.service.rightsdb import NewClaim, Upload

    db = _open(target)
    try:
        owner, _ = db.create_account("studio", "owner")
        scanner, _ = db.create_account("platform", "scanner")
        db.rights.set_policy("work:w1", Policy(action="block", min_seconds=3), "studio")
        db.rights.set_policy("work:w1", Policy(action="monetize"), "studio")  # an upsert
        assert db.rights.policy("work:w1").action == "monetize"
        reuse = Reuse("w1", 4.0, 0.5, 4.0, 0.25, 0.9, ("video",))
        upload_ = Upload(platform="clips", upload_id="u-1", uploader="someone", views=3_000_000_000)  # past 32 bits
        job_row = {"id": "s-000000000001", "account_id": scanner.id, "name": "u.mp4", "status": "done",
                   "params": {}, "result": {"matches": []}, "created_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
        (claim_id,) = db.rights.record_check(job_row, [MATCH], upload_, 8.0, "monetize", [reuse],
                                             [NewClaim("w1", owner.id, "active", "monetize", Policy(action="monetize"),
                                                       "work", reuse)])  # fmt: skip
        assert db.rights.upload("s-000000000001")["views"] == 3_000_000_000
        assert [r["upload_id"] for r in db.rights.reach_rows(["w1"])] == ["u-1"]
        claim = db.rights.claim(claim_id)
        disputed = db.rights.act(claim, "dispute", "uploader", "platform", "mine", window_s=-10)  # deadline past
        assert disputed.state == "disputed"
        assert db.rights.act(claim, "dispute", "uploader", "platform", "again", window_s=30) is None  # stale: refused
        # Two servers' clocks at once: released once, with one history line.
        results = []
        other = _open(target)
        try:
            threads = [threading.Thread(target=lambda d=d: results.append(d.rights.expire())) for d in (db, other)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            other.close()
        assert sorted(len(r) for r in results) == [0, 1]
        assert [c.action for c in db.rights.history(claim_id)] == ["create", "dispute", "expire"]
        assert db.rights.claim(claim_id).state == "released"
    finally:
        db.close()


def test_workers_of_several_processes_take_each_job_once(target):
    """Two ``ServiceDB`` objects (two servers) with four claiming threads each, 60 jobs:
    each claimed once, by one of them, and finished once."""
    first, second = _open(target), _open(target)
    try:
        acct, _ = first.create_account("platform", "scanner")
        ids = {first.add_job("scan", acct.id, f"q{i}.mp4", {"path": f"/q{i}.mp4"}).id for i in range(60)}
        taken: list[tuple[str, str]] = []
        lock = threading.Lock()

        def work(db) -> None:
            while (job := db.claim_job()) is not None:
                assert db.finish_job(job, {"matches": []}, None, [MATCH])
                with lock:
                    taken.append((job.id, db.instance))

        threads = [threading.Thread(target=work, args=(db,)) for db in (first, second) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert sorted(i for i, _ in taken) == sorted(ids)
        jobs = first.jobs(limit=100)
        assert {(j.status, j.attempts) for j in jobs} == {("done", 1)}
        assert {j.claimed_by for j in jobs} <= {first.instance, second.instance}
        assert len(first.matches()) == 60
    finally:
        first.close()
        second.close()


def test_leases_on_a_shared_database_and_restarts_on_sqlite(target):
    """PostgreSQL: a job is requeued only once its server stopped renewing its lease (never
    while it lives), then at once when its server closes; the stale attempt cannot finish.
    SQLite (one server per file): a start requeues every running job."""
    server_a, server_b = _open(target, lease_s=1.0), _open(target, lease_s=1.0)
    try:
        acct, _ = server_a.create_account("platform", "scanner")
        job = server_a.add_job("scan", acct.id, "q.mp4", {"path": "/q.mp4"})
        held = server_a.claim_job()
        if not server_b.shared:
            assert server_b.requeue_running() == (1, 0)
            assert server_b.job(job.id).status == "queued"
            return
        time.sleep(2.5)  # two and a half leases: server A renews every third of one
        assert server_b.requeue_running() == (0, 0) and server_b.claim_job() is None
        assert server_b.job(job.id).claimed_by == server_a.instance
        # Server A stops renewing (as a process that died): the lease runs out, B takes the job.
        server_a._closing.set()
        server_a._lease_keeper.join(5)
        server_a._lease_keeper = None
        time.sleep(1.5)
        taken = server_b.claim_job()  # the expiry check runs as a worker asks for work
        assert (taken.id, taken.attempts, taken.claimed_by) == (job.id, 2, server_b.instance)
        assert not server_a.finish_job(held, {"matches": []}, None, [MATCH])  # the stale attempt
        # A server that closes gives its leases up at once.
        server_b.close()
        server_c = _open(target, lease_s=60.0)
        try:
            assert server_c.requeue_running() == (1, 0)
            again = server_c.claim_job()
            assert again.attempts == 3 and server_c.finish_job(again, {"matches": []}, None, [MATCH])
            assert len(server_c.matches(scan_id=job.id)) == 1
        finally:
            server_c.close()
    finally:
        server_a.close()
        server_b.close()


def test_a_monitor_is_followed_by_one_server_and_taken_over_when_its_server_stops(target):
    """PostgreSQL: a monitor is its starting server's while that server renews its lease;
    another server never takes it then (its events would be stored twice), and takes it as
    soon as the first stops. SQLite (one server per file): a start follows every running
    monitor again, as before leases."""
    server_a, server_b = _open(target, lease_s=60.0), _open(target, lease_s=60.0)
    try:
        acct, _ = server_a.create_account("platform", "scanner")
        monitor = server_a.add_monitor(acct.id, "Channel 1", "http://127.0.0.1/x.m3u8", max_running=5, max_per_account=5)
        if not server_b.shared:
            assert [m.id for m in server_b.adopt_monitors(10)] == [monitor.id]
            return
        assert server_b.adopt_monitors(10) == []
        server_a.close()  # it stops: its lease is given up at once
        assert [m.id for m in server_b.adopt_monitors(10)] == [monitor.id]
        server_c = _open(target, lease_s=60.0)
        try:
            assert server_c.adopt_monitors(10) == [] and server_b.adopt_monitors(10) == []
        finally:
            server_c.close()
    finally:
        server_a.close()
        server_b.close()


def test_a_service_sqlite_made_before_leases_gets_their_columns(tmp_path):
    import sqlite3

    path = str(tmp_path / "service.sqlite")
    db = _open(path)
    acct, _ = db.create_account("platform", "scanner")
    job = db.add_job("scan", acct.id, "q.mp4", {"path": "/q.mp4"})
    db.close()
    old = sqlite3.connect(path)
    old.execute("ALTER TABLE jobs DROP COLUMN claimed_by")
    old.execute("ALTER TABLE jobs DROP COLUMN lease_until")
    old.commit()
    old.close()
    db = _open(path)
    try:
        assert db.job(job.id).claimed_by is None
        assert db.claim_job().claimed_by == db.instance
    finally:
        db.close()


def test_a_database_that_cannot_be_reached_is_one_line(pg_server):
    from reeltrace.storage.sqlite import DatabaseUnavailable

    url = pg_server.url.replace("reeltrace@", "reeltrace:s3cret@").rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(DatabaseUnavailable) as err:
        _open(url)
    assert "no_such_database" in str(err.value) and "s3cret" not in str(err.value) and "\n" not in str(err.value)


# -- real servers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_media(str(tmp_path_factory.mktemp("pg-media")))


def _server(library: str, url: str, media: dict, name: str, lease_s: float = 4.0, env: dict | None = None) -> Server:
    return Server(library, allow=[media["allowed"]], env=env, log=f"{library}-{name}.log",
                  args=["--database", url, "--job-lease-s", str(lease_s)])  # fmt: skip


def _rows(url: str, sql: str, params=()) -> list[tuple]:
    with _psycopg().connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _register(c, media: dict) -> str:
    r = upload(c, "/api/works", media["work_a"], title="Harbour Lights", category="drama")
    assert r.status_code == 202, r.text
    job = wait_job(c, f"/api/jobs/{r.json()['job']['id']}")
    assert job["status"] == "done", job
    return job["result"]["work"]["work_id"]


def test_one_server_on_postgres_registers_scans_isolates_and_claims(pg_server, media, tmp_path):
    url = pg_server.new_database()
    library = str(tmp_path / "library")
    srv = _server(library, url, media, "one").start()
    try:
        tokens = make_accounts(srv, {"studio-a": "owner", "studio-b": "owner", "platform-a": "scanner",
                                     "platform-b": "scanner"})  # fmt: skip
        c = {name: client(srv, tok) for name, tok in tokens.items()}
        a = _register(c["studio-a"], media)
        r = c["studio-b"].post("/api/works", data={"path": media["work_b"], "title": "Mountain Pass", "category": "documentary"})
        b = wait_job(c["studio-b"], f"/api/jobs/{r.json()['job']['id']}")["result"]["work"]["work_id"]
        r = upload(c["platform-a"], "/api/scans", media["query"])
        assert r.status_code == 202, r.text
        scan = wait_job(c["platform-a"], f"/api/scans/{r.json()['scan']['id']}")
        assert scan["status"] == "done" and scan["attempts"] == 1, scan
        result = c["platform-a"].get(f"/api/scans/{scan['id']}/result").json()["results"][0]
        assert [m["title"] for m in result["matches"]] == ["Harbour Lights"]
        segments = result["matches"][0]["segments"]
        assert c["platform-a"].get(f"/api/scans/{scan['id']}/report.html").status_code == 200

        # Isolation, as on SQLite.
        assert [w["work_id"] for w in c["studio-a"].get("/api/works").json()["works"]] == [a]
        assert {w["work_id"] for w in c["admin"].get("/api/works").json()["works"]} == {a, b}
        assert c["studio-b"].get(f"/api/works/{a}").status_code == 404
        assert c["platform-b"].get(f"/api/scans/{scan['id']}").status_code == 404
        assert c["platform-a"].get("/api/works").status_code == 403
        assert len(c["studio-a"].get("/api/matches").json()["matches"]) == len(segments)
        assert c["studio-b"].get("/api/matches").json()["matches"] == []
        assert c["studio-a"].get(f"/api/scans/{scan['id']}/matches/{a}").status_code == 200

        # Rights: a policy, an upload-time check that claims, a dispute answered.
        assert c["studio-a"].put(f"/api/works/{a}/policy", json={"action": "block", "min_seconds": 3}).status_code == 200
        with open(media["query"], "rb") as fh:
            r = c["platform-a"].post("/api/check", files={"file": ("repost.mp4", fh, "video/mp4")},
                                     data={"metadata": json.dumps({"platform": "clips", "upload_id": "u-1",
                                                                   "views": 1000})})  # fmt: skip
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["decision"] == "block"
        (claim,) = answer["claims"]
        path = f"/api/claims/{claim['id']}"
        assert c["platform-b"].get(path).status_code == 404 and c["studio-b"].get(path).status_code == 404
        assert c["studio-a"].post(path + "/dispute", json={"reason": "x"}).status_code == 403
        assert c["platform-a"].post(path + "/dispute", json={"reason": "my own footage"}).json()["state"] == "disputed"
        assert c["platform-a"].post(path + "/dispute", json={"reason": "again"}).status_code == 409
        assert c["studio-a"].post(path + "/uphold", json={"reason": "frame-exact"}).json()["state"] == "upheld"
        assert [h["action"] for h in c["studio-a"].get(path).json()["history"]] == ["create", "dispute", "uphold"]
        reach = c["studio-a"].get(f"/api/works/{a}/reach").json()
        assert reach["uploads"] == 1 and reach["views"] == 1000, reach
    finally:
        srv.stop()
    # It all lives in PostgreSQL: no service.sqlite beside the library.
    assert not os.path.exists(os.path.join(library, "service.sqlite"))
    assert {r[0] for r in _rows(url, "SELECT status FROM jobs")} == {"done"}
    assert _rows(url, "SELECT state FROM claims") == [("upheld",)]


@pytest.mark.parametrize("catalogue", ["sqlite", "postgresql"])
def test_two_servers_share_one_queue_each_job_done_once(pg_server, media, tmp_path, catalogue):
    """With the library's catalogue in its folder's SQLite file (one machine), or in the same
    PostgreSQL database as the service's tables, in a schema of its own (machines that mount
    the folder)."""
    url = pg_server.new_database()
    library = str(tmp_path / "library")
    if catalogue == "postgresql":
        made = run_cli("--library", library, "init", "--catalogue", url)
        assert made.code == 0 and "catalogue in postgresql://" in made.out, made.err
    hold = tmp_path / "hold"
    first = _server(library, url, media, "first", env={"REELTRACE_SERVICE_HOLD_FILE": str(hold)}).start()
    second = None
    try:
        c1 = client(first, ADMIN_TOKEN)
        _register(c1, media)
        second = _server(library, url, media, "second", env={"REELTRACE_SERVICE_HOLD_FILE": str(hold)}).start()
        c2 = client(second, ADMIN_TOKEN)
        hold.write_text("hold")  # each server's one worker takes one job and waits: both hold one
        scans = []
        for i in range(6):  # submitted to either server: one queue
            r = upload(c1 if i % 2 else c2, "/api/scans", media["query"], name=f"repost-{i}.mp4")
            assert r.status_code == 202, r.text
            scans.append(r.json()["scan"]["id"])
        running = lambda: _rows(url, "SELECT id, claimed_by FROM jobs WHERE status = 'running'")  # noqa: E731
        wait_until(lambda: len(running()) == 2, "each server to hold a job", WAIT)
        holders = {by for _, by in running()}
        assert len(holders) == 2 and {h.split(":")[1] for h in holders} == {str(first.proc.pid), str(second.proc.pid)}
        hold.unlink()
        for i, scan_id in enumerate(scans):
            job = wait_job(c1 if i % 3 else c2, f"/api/scans/{scan_id}")  # visible through either server
            assert (job["status"], job["attempts"]) == ("done", 1), job
        result = c2.get(f"/api/scans/{scans[0]}/result").json()["results"][0]
        assert [m["title"] for m in result["matches"]] == ["Harbour Lights"]
        segments = len(result["matches"][0]["segments"])
        by = dict(_rows(url, "SELECT id, claimed_by FROM jobs WHERE kind = 'scan'"))
        assert set(by) == set(scans) and len(set(by.values())) == 2, by  # split between the two
        counts = dict(_rows(url, "SELECT scan_id, COUNT(*) FROM matches GROUP BY scan_id"))
        assert counts == {s: segments for s in scans}  # each result recorded once
        assert os.path.exists(os.path.join(library, "library.sqlite")) == (catalogue == "sqlite")
    finally:
        if hold.exists():
            hold.unlink()
        first.stop()
        if second is not None:
            second.stop()


def test_a_killed_server_s_job_is_taken_by_the_other_after_its_lease(pg_server, media, tmp_path):
    url = pg_server.new_database()
    library = str(tmp_path / "library")
    hold = tmp_path / "hold"
    lease = 4.0
    doomed = _server(library, url, media, "doomed", lease_s=lease, env={"REELTRACE_SERVICE_HOLD_FILE": str(hold)}).start()
    survivor = None
    try:
        c = client(doomed, ADMIN_TOKEN)
        _register(c, media)
        hold.write_text("hold")
        first = upload(c, "/api/scans", media["query"]).json()["scan"]["id"]
        wait_until(lambda: c.get(f"/api/scans/{first}").json()["status"] == "running", "the doomed server to take the job",
                   WAIT)  # fmt: skip
        second = upload(c, "/api/scans", media["query"]).json()["scan"]["id"]  # queued behind it
        survivor = _server(library, url, media, "survivor", lease_s=lease).start()
        s = client(survivor, ADMIN_TOKEN)
        # The survivor runs the queued job, and never the one a live server holds.
        job = wait_job(s, f"/api/scans/{second}")
        assert (job["status"], job["attempts"]) == ("done", 1), job
        time.sleep(2 * lease)
        held = s.get(f"/api/scans/{first}").json()
        assert (held["status"], held["attempts"]) == ("running", 1), held
        (holder,) = _rows(url, "SELECT claimed_by FROM jobs WHERE id = %s", (first,))
        assert holder[0].split(":")[1] == str(doomed.proc.pid)
        doomed.kill()  # SIGKILL: no shutdown, no leases given up
        killed_at = time.monotonic()
        job = wait_job(s, f"/api/scans/{first}")
        assert (job["status"], job["attempts"]) == ("done", 2), job
        assert time.monotonic() - killed_at >= lease * 0.5  # it waited for the lease
        (holder,) = _rows(url, "SELECT claimed_by FROM jobs WHERE id = %s", (first,))
        assert holder[0].split(":")[1] == str(survivor.proc.pid)
        result = s.get(f"/api/scans/{first}/result").json()["results"][0]
        segments = len(result["matches"][0]["segments"])
        assert len(s.get("/api/matches", params={"scan_id": first}).json()["matches"]) == segments  # recorded once
    finally:
        if hold.exists():
            hold.unlink()
        doomed.kill()
        if survivor is not None:
            survivor.stop()
