"""The HTTP service, against a real server process (uvicorn in a subprocess on 127.0.0.1).

One server, one set of accounts and one registered work per module (module fixtures);
the restart test runs its own server on its own library. Media is generated with PyAV.
With ``REELTRACE_TEST_DATABASE=postgres`` every server here keeps its tables in a new
PostgreSQL database (``make test-backends`` runs this file so too): the same tests, the
same answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

import audiogen
import mediagen
from helpers import SHARED_VECTORS, run_cli
from pgserver import new_database, pg_server  # noqa: F401  (fixtures: a server's tables in PostgreSQL with REELTRACE_TEST_DATABASE=postgres)
from reeltrace.records import ScanResult, Segment, Work, WorkMatch
from reeltrace.report import evidence
from reeltrace.report.formats import result_public
from reeltrace.service.db import ServiceDB

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_TOKEN = "rt_test-admin-token-0123456789abcdef"
MAX_UPLOAD_MB = 4
WAIT = 240.0  # seconds: a generous bound for waits, never asserted on


# -- helpers (also used by test_console_browser) --------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m reeltrace.service`` in a subprocess."""

    def __init__(self, library: str, allow: list[str] | None = None, env: dict | None = None, log: str | None = None,
                 args: list[str] | None = None, database: str | None = None):  # fmt: skip
        self.library = library
        self.allow = allow or []
        self.args = list(args or [])  # more command-line options (limits); the caller's list stays as it was
        if database:
            self.args += ["--database", database]
        self.database = database or os.path.join(library, "service.sqlite")
        """Where the server keeps its tables: ``--database``, else the library's file."""
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log or os.path.join(library + "-server.log")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        if SHARED_VECTORS != "faiss" and not os.path.exists(self.library):
            # The library's vectors where the run says (``make test-backends``: Milvus Lite).
            made = run_cli("--library", self.library, "init", "--vectors", SHARED_VECTORS)
            assert made.code == 0, made.err
        cmd = [sys.executable, "-m", "reeltrace.service", "--library", self.library, "--host", "127.0.0.1",
               "--port", str(self.port), "--max-upload-mb", str(MAX_UPLOAD_MB), "--log-level", "warning"]  # fmt: skip
        for a in self.allow:
            cmd += ["--allow-path", a]
        cmd += self.args
        env = dict(os.environ, REELTRACE_ADMIN_TOKEN=ADMIN_TOKEN, PYTHONPATH=ROOT, **self.env)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {open(self.log_path).read()[-3000:]}")
            try:
                if httpx.get(self.url + "/api/me", headers=auth(ADMIN_TOKEN), timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run, as when a machine dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self._log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self._log.close()


def stored(database: str, sql: str, parameters: tuple | list = ()) -> list:
    """The rows of ``sql`` on a server's tables (``Server.database``), as an operator would
    read them, in SQLite or PostgreSQL."""
    db = ServiceDB(database)
    try:
        return [tuple(row) for row in db.database.execute(sql, parameters).fetchall()]
    finally:
        db.close()


def change_stored(database: str, sql: str, parameters: tuple | list = ()) -> None:
    """Run ``sql`` on a server's tables in one transaction, as an operator (or time) would
    change them behind the server's back."""
    db = ServiceDB(database)
    try:
        with db.database.transaction() as tx:
            tx.execute(sql, parameters)
    finally:
        db.close()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def client(server: Server, token: str | None) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=auth(token) if token else {}, timeout=60)


def make_accounts(server: Server, roles: dict[str, str], owner_name=str.title) -> dict[str, str]:
    """The accounts ``roles`` (name -> role), created by the admin, with the admin's: name ->
    token. An owner's name on works is ``owner_name(name)``."""
    admin = client(server, ADMIN_TOKEN)
    tokens = {"admin": ADMIN_TOKEN}
    for name, role in roles.items():
        r = admin.post("/api/accounts", json={"name": name, "role": role, "owner_name": owner_name(name)})
        assert r.status_code == 201, r.text
        tokens[name] = r.json()["token"]
    return tokens


def wait_job(c: httpx.Client, url: str) -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        r = c.get(url)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not finish: {job}")
        time.sleep(0.2)


# Media: the suite's generators (tests/mediagen.py, tests/audiogen.py).

def synth_frames(seed: int, duration: float, style: str, size: tuple[int, int] = mediagen.WORK_SIZE):
    """A generated work (tests/mediagen.py): each video here gets its own picture family,
    since SSCD sees two pictures of one family as alike, as unrelated footage is not."""
    return mediagen.work_frames(seed, duration, style, size)


write_video = mediagen.write_video
read_frames = mediagen.read_frames


def make_media(folder: str) -> dict:
    """Work A (12 s), work B (8 s, in the allowed folder), an unrelated clip, and a query that
    shows work A's 3-8 s (scaled up) followed by 3 s of unrelated material."""
    os.makedirs(folder, exist_ok=True)
    allowed = os.path.join(folder, "allowed")
    os.makedirs(allowed, exist_ok=True)
    work_a = write_video(os.path.join(folder, "harbour-lights.mp4"), synth_frames(101, 12.0, "noise"))
    work_b = write_video(os.path.join(allowed, "mountain-pass.mp4"), synth_frames(202, 8.0, "warp"))
    other = write_video(os.path.join(folder, "other.mp4"), synth_frames(303, 4.0, "leaves"))
    big = (480, 270)
    reused = [np.asarray(Image.fromarray(f).resize(big, Image.BILINEAR)) for f in read_frames(work_a, 3.0, 8.0)]
    rest = list(synth_frames(404, 3.0, "julia", big))
    query = write_video(os.path.join(folder, "repost clip.mp4"), reused + rest)
    return {"work_a": work_a, "work_b": work_b, "other": other, "query": query, "allowed": allowed}


def upload(c: httpx.Client, url: str, path: str, name: str | None = None, **fields) -> httpx.Response:
    with open(path, "rb") as fh:
        return c.post(url, files={"file": (name or os.path.basename(path), fh, "video/mp4")}, data=fields)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_media(str(tmp_path_factory.mktemp("media")))


@pytest.fixture(scope="module")
def server(tmp_path_factory, media, new_database):
    lib = str(tmp_path_factory.mktemp("service") / "library")
    srv = Server(lib, allow=[media["allowed"]], args=["--allow-source-network", "127.0.0.0/8"],  # monitors on loopback
                 database=new_database()).start()  # fmt: skip
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def world(server, media):
    """Accounts (two owners, two scanners), a work of each owner, and one scan per scanner."""
    tokens = make_accounts(server, {"studio-a": "owner", "studio-b": "owner", "platform-a": "scanner", "platform-b": "scanner"})
    c = {name: client(server, tok) for name, tok in tokens.items()}

    r = upload(c["studio-a"], "/api/works", media["work_a"], title="Harbour Lights", category="drama")
    assert r.status_code == 202, r.text
    reg_a = wait_job(c["studio-a"], f"/api/jobs/{r.json()['job']['id']}")
    r = c["studio-b"].post("/api/works", data={"path": media["work_b"], "title": "Mountain Pass", "category": "documentary"})
    assert r.status_code == 202, r.text
    reg_b = wait_job(c["studio-b"], f"/api/jobs/{r.json()['job']['id']}")

    r = upload(c["platform-a"], "/api/scans", media["query"])
    assert r.status_code == 202, r.text
    scan_a = wait_job(c["platform-a"], f"/api/scans/{r.json()['scan']['id']}")
    r = c["platform-b"].post("/api/scans", data={"path": media["work_b"]})
    assert r.status_code == 202, r.text
    scan_b = wait_job(c["platform-b"], f"/api/scans/{r.json()['scan']['id']}")
    return {"c": c, "tokens": tokens, "reg_a": reg_a, "reg_b": reg_b, "scan_a": scan_a, "scan_b": scan_b, "query_file": media["query"],
            "work_a": reg_a["result"]["work"]["work_id"], "work_b": reg_b["result"]["work"]["work_id"]}  # fmt: skip


# -- works -----------------------------------------------------------------------------------


def test_register_by_upload(world, media):
    job = world["reg_a"]
    assert job["status"] == "done" and job["attempts"] == 1, job
    work = job["result"]["work"]
    assert work["title"] == "Harbour Lights" and work["category"] == "drama" and work["owner"] == "Studio-A"
    assert abs(work["duration"] - 12.0) < 0.6
    c = world["c"]["studio-a"]
    r = c.get(f"/api/works/{work['work_id']}")
    assert r.status_code == 200 and r.json()["content_hash"] == work["content_hash"]
    assert r.json()["account"] == "studio-a" and "source_path" not in r.json()  # a server path: admins only
    # The upload is kept by the service (the work's frames come from it).
    kept = world["c"]["admin"].get(f"/api/works/{work['work_id']}").json()["source_path"]
    assert os.path.isfile(kept) and kept != os.path.abspath(media["work_a"])
    poster = c.get(f"/api/works/{work['work_id']}/poster.jpg")
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    assert poster.content[:3] == b"\xff\xd8\xff"


def test_register_by_allowed_path(world, media):
    job = world["reg_b"]
    assert job["status"] == "done", job
    assert job["result"]["work"]["source_path"] == os.path.realpath(media["work_b"])
    assert job["result"]["work"]["owner"] == "Studio-B"


def test_register_same_content_again(world, media):
    c = world["c"]["studio-a"]
    r = upload(c, "/api/works", media["work_a"], title="Again")
    job = wait_job(c, f"/api/jobs/{r.json()['job']['id']}")
    assert job["status"] == "done" and job["result"]["created"] is False
    assert job["result"]["work"]["work_id"] == world["work_a"]
    # Another owner cannot take over (or learn about) studio-a's work by uploading it.
    c = world["c"]["studio-b"]
    r = upload(c, "/api/works", media["work_a"])
    job = wait_job(c, f"/api/jobs/{r.json()['job']['id']}")
    assert job["status"] == "failed" and "cannot be registered" in job["error"] and job["result"] is None
    assert "studio-a" not in job["error"].lower() and world["work_a"] not in job["error"]


def test_list_filter_search(world):
    admin = world["c"]["admin"]
    titles = lambda r: sorted(w["title"] for w in r.json()["works"])  # noqa: E731
    assert titles(admin.get("/api/works")) == ["Harbour Lights", "Mountain Pass"]
    assert titles(admin.get("/api/works", params={"category": "documentary"})) == ["Mountain Pass"]
    assert titles(admin.get("/api/works", params={"owner": "Studio-A"})) == ["Harbour Lights"]
    assert titles(admin.get("/api/works", params={"q": "harb"})) == ["Harbour Lights"]
    assert titles(admin.get("/api/works", params={"q": "nothing"})) == []
    assert titles(world["c"]["studio-a"].get("/api/works")) == ["Harbour Lights"]
    assert titles(world["c"]["studio-b"].get("/api/works")) == ["Mountain Pass"]


def test_register_then_delete(world, media):
    c = world["c"]["studio-a"]
    r = upload(c, "/api/works", media["other"], title="Short one", category="short", work_id="short-1")
    job = wait_job(c, f"/api/jobs/{r.json()['job']['id']}")
    assert job["status"] == "done", job
    source = job["result"]["work"]["source_path"]
    assert os.path.isfile(source)
    assert c.post("/api/works", data={"path": media["work_b"], "work_id": "short-1"}).status_code == 409
    assert world["c"]["studio-b"].delete("/api/works/short-1").status_code == 404
    assert world["c"]["platform-a"].delete("/api/works/short-1").status_code == 403
    r = c.delete("/api/works/short-1")
    assert r.status_code == 200 and r.json() == {"deleted": "short-1"}
    assert c.get("/api/works/short-1").status_code == 404
    assert not os.path.exists(source)  # the kept upload went with it


def test_edit_a_work_as_its_owner_and_as_the_admin(world):
    work = world["work_a"]
    owner, other, scanner, admin = (world["c"][n] for n in ("studio-a", "studio-b", "platform-a", "admin"))
    r = owner.patch(f"/api/works/{work}", json={"title": "Harbour Lights (restored)", "category": "film"})
    assert r.status_code == 200, r.text
    assert (r.json()["title"], r.json()["category"], r.json()["owner"]) == ("Harbour Lights (restored)", "film", "Studio-A")
    assert owner.get(f"/api/works/{work}").json()["title"] == "Harbour Lights (restored)"
    # Another owner's work is not there for it; a scanner may not edit; nor may an owner rename the owner.
    assert other.patch(f"/api/works/{work}", json={"title": "Mine now"}).status_code == 404
    assert scanner.patch(f"/api/works/{work}", json={"title": "x"}).status_code == 403
    assert owner.patch(f"/api/works/{work}", json={"owner": "Someone"}).status_code == 403
    assert owner.patch(f"/api/works/{work}", json={"category": "opera"}).status_code == 400
    assert owner.patch(f"/api/works/{work}", json={"title": "   "}).status_code == 400
    assert owner.patch(f"/api/works/{work}", json={"work_id": "stolen"}).status_code == 422
    assert owner.patch("/api/works/no-such-work", json={"title": "x"}).status_code == 404
    r = admin.patch(f"/api/works/{work}", json={"owner": "Studio A Ltd", "title": "Harbour Lights", "category": "drama"})
    assert r.status_code == 200 and r.json()["owner"] == "Studio A Ltd"
    # The owner name is text on the work; the account that owns it is unchanged.
    assert owner.get(f"/api/works/{work}").status_code == 200
    assert admin.patch(f"/api/works/{work}", json={"owner": "Studio-A"}).status_code == 200


def test_the_admin_transfers_a_work_between_owner_accounts(world):
    """Who owns a work is an account: a transfer moves what each owner sees, and the owner
    name on the work follows the account's."""
    work = world["work_b"]
    a, b, admin = (world["c"][n] for n in ("studio-a", "studio-b", "admin"))
    assert b.patch(f"/api/works/{work}", json={"account": "studio-a"}).status_code == 403
    assert admin.patch(f"/api/works/{work}", json={"account": "platform-a"}).status_code == 400  # a scanner
    assert admin.patch(f"/api/works/{work}", json={"account": "nobody"}).status_code == 400
    r = admin.patch(f"/api/works/{work}", json={"account": "studio-a"})
    assert r.status_code == 200 and (r.json()["account"], r.json()["owner"]) == ("studio-a", "Studio-A")
    assert work in {w["work_id"] for w in a.get("/api/works").json()["works"]}
    assert b.get(f"/api/works/{work}").status_code == 404 and work not in str(b.get("/api/works").json())
    assert a.get(f"/api/works/{work}/matches").status_code == 200
    # No owner account: only admins see it; then back to where it was.
    r = admin.patch(f"/api/works/{work}", json={"account": ""})
    assert r.status_code == 200 and r.json()["account"] is None
    assert a.get(f"/api/works/{work}").status_code == 404 and b.get(f"/api/works/{work}").status_code == 404
    r = admin.patch(f"/api/works/{work}", json={"account": "studio-b"})
    assert r.status_code == 200 and r.json()["owner"] == "Studio-B"
    assert b.get(f"/api/works/{work}").status_code == 200


def test_tokens_are_rotated_by_the_admin_and_by_their_account(server):
    admin = client(server, ADMIN_TOKEN)
    r = admin.post("/api/accounts", json={"name": "rotating", "role": "scanner"})
    assert r.status_code == 201
    first = r.json()["token"]
    r = admin.post("/api/accounts/rotating/token")
    assert r.status_code == 200 and r.json()["token"] != first
    second = r.json()["token"]
    assert client(server, first).get("/api/me").status_code == 401
    assert client(server, second).get("/api/me").json()["name"] == "rotating"
    r = client(server, second).post("/api/me/token")
    assert r.status_code == 200 and r.json()["account"]["name"] == "rotating"
    assert client(server, second).get("/api/me").status_code == 401
    assert client(server, r.json()["token"]).get("/api/me").status_code == 200
    assert client(server, r.json()["token"]).post("/api/accounts/rotating/token").status_code == 403
    assert admin.delete("/api/accounts/rotating").status_code == 200
    assert client(server, r.json()["token"]).get("/api/me").status_code == 401


def test_api_docs_are_served_without_a_cdn(server):
    page = httpx.get(server.url + "/docs")
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        r = httpx.get(f"{server.url}/docs-assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000
    assert httpx.get(server.url + "/redoc").status_code == 404
    # Its "Authorize" button: the schema says every operation takes a bearer token.
    schema = httpx.get(server.url + "/openapi.json").json()
    assert schema["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    assert schema["security"] == [{"token": []}]


def test_bad_register_requests(world, media):
    c = world["c"]["studio-a"]
    r = upload(c, "/api/works", media["work_a"], category="opera")
    assert r.status_code == 400 and "category" in r.json()["detail"]
    r = upload(c, "/api/works", media["work_a"], work_id="../x")
    assert r.status_code == 400
    r = c.post("/api/works", data={"title": "nothing"})
    assert r.status_code == 400 and r.json()["status"] == 400
    r = upload(c, "/api/works", media["work_a"], owner="Someone Else")
    assert r.status_code == 403


# -- scans -----------------------------------------------------------------------------------


def test_scan_status_and_results(world):
    scan = world["scan_a"]
    assert scan["status"] == "done" and scan["attempts"] == 1 and scan["progress"] == 1.0, scan
    c = world["c"]["platform-a"]
    r = c.get(f"/api/scans/{scan['id']}")
    assert r.status_code == 200 and r.json()["query"] == "repost clip.mp4"
    r = c.get(f"/api/scans/{scan['id']}/result")
    assert r.status_code == 200
    body = r.json()
    # The JSON shape of `reeltrace scan --format json`.
    assert list(body) == ["results"] and len(body["results"]) == 1
    res = body["results"][0]
    assert set(res) == {"query", "duration", "error", "matches"}
    assert res["query"] == "repost clip.mp4" and res["error"] is None and abs(res["duration"] - 8.0) < 0.3
    assert [m["work_id"] for m in res["matches"]] == [world["work_a"]]
    m = res["matches"][0]
    assert set(m) == {"work_id", "title", "owner", "category", "modality", "score", "segments"}
    assert m["owner"] == "Studio-A" and m["modality"] == "video"
    seg = m["segments"][0]
    assert set(seg) == {"query_start", "query_end", "work_start", "work_end", "speed", "score", "modality"}
    assert seg["query_start"] < 1.0 and 4.0 < seg["query_end"] < 6.0
    assert abs(seg["speed"] - 1.0) < 0.06
    assert abs(seg["work_start"] - 3.0) < 1.0 and abs(seg["work_end"] - 8.0) < 1.0
    listed = c.get("/api/scans").json()["scans"]
    assert [s["id"] for s in listed] == [scan["id"]]


def test_scan_keeps_its_lossless_record(world, server):
    """Beside what the API shows, a scan's job keeps the scan's lossless record; the API's
    JSON is ``result_public`` of that record, and the record itself is in no answer."""
    sid = world["scan_a"]["id"]
    c = world["c"]["platform-a"]
    ((kept,),) = stored(server.database, "SELECT result FROM jobs WHERE id = ?", (sid,))
    record = ScanResult.from_dict(json.loads(kept)["record"])
    assert record.query == "repost clip.mp4" and record.trace is None
    (shown,) = c.get(f"/api/scans/{sid}/result").json()["results"]
    assert result_public(record) == shown
    segment = record.matches[0].segments[0]
    assert segment.modality == "video" and segment.video is not None and segment.video.frames > 0
    assert "record" not in c.get(f"/api/scans/{sid}").json()["result"]
    assert "record" not in c.get(f"/api/jobs/{sid}").json()["result"]


def test_scan_detail_and_frames(world):
    c = world["c"]["platform-a"]
    sid, wid = world["scan_a"]["id"], world["work_a"]
    d = c.get(f"/api/scans/{sid}/matches/{wid}").json()
    pair = d["segments"][0]["pairs"][0]
    for side, t in (("query", pair["query_time"]), ("work", pair["work_time"])):
        r = c.get(f"/api/scans/{sid}/matches/{wid}/frame.jpg", params={"side": side, "t": t})
        assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff", (side, r.status_code)
    # Only frames inside matched segments are served.
    r = c.get(f"/api/scans/{sid}/matches/{wid}/frame.jpg", params={"side": "query", "t": 7.9})
    assert r.status_code == 404


def test_scan_of_bad_content_is_refused(world, tmp_path):
    c = world["c"]["platform-a"]
    junk = tmp_path / "clip.mp4"
    junk.write_bytes(b"this is not a video, whatever its name says\n" * 50)
    r = upload(c, "/api/scans", str(junk))
    assert r.status_code == 415 and r.json()["status"] == 415 and "not a known" in r.json()["detail"]
    png = tmp_path / "movie.mp4"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 10, 10)).save(png, "PNG")
    assert upload(c, "/api/scans", str(png)).status_code == 415
    # Right magic bytes, broken content: the PyAV probe refuses it.
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000))
    r = upload(c, "/api/scans", str(fake))
    assert r.status_code == 415, r.text
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert upload(c, "/api/scans", str(empty)).status_code == 400
    # Nothing was queued for any of them.
    assert [s["id"] for s in c.get("/api/scans").json()["scans"]] == [world["scan_a"]["id"]]


def test_upload_size_limit(world, tmp_path):
    c = world["c"]["platform-a"]
    big = tmp_path / "big.mp4"
    with open(big, "wb") as fh:
        fh.write(b"\x00\x00\x00\x18ftypmp42")
        fh.write(b"\0" * (MAX_UPLOAD_MB * (1 << 20) + 200_000))
    r = upload(c, "/api/scans", str(big))
    assert r.status_code == 413 and r.json()["status"] == 413 and "too large" in r.json()["detail"]

    # Without a Content-Length (chunked), the limit is enforced while copying.
    def chunks():
        boundary = b"xxBOUNDARYxx"
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        yield b"Content-Type: video/mp4\r\n\r\n\x00\x00\x00\x18ftypmp42"
        for _ in range(MAX_UPLOAD_MB + 1):
            yield b"\0" * (1 << 20)
        yield b"\r\n--" + boundary + b"--\r\n"

    r = c.post("/api/scans", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=xxBOUNDARYxx"})
    assert r.status_code == 413, r.text


def test_safe_upload_names(world, server, media):
    c = world["c"]["admin"]
    r = upload(c, "/api/scans", media["other"], name="../../../../etc/evil name?.mp4")
    assert r.status_code == 202, r.text
    scan = wait_job(c, f"/api/scans/{r.json()['scan']['id']}")
    assert scan["query"] == "evil name?.mp4"
    queries = os.path.join(server.library, "service", "queries")
    stored = [os.path.join(d, f) for d, _, files in os.walk(queries) for f in files]
    assert any(os.path.basename(p) == "evil_name.mp4" for p in stored), stored
    assert all(os.path.realpath(p).startswith(os.path.realpath(queries) + os.sep) for p in stored)
    assert not os.path.exists("/etc/evil name?.mp4")


def test_path_traversal_and_allowed_paths(world, media, tmp_path):
    c = world["c"]["platform-a"]
    allowed = media["allowed"]
    outside = media["work_a"]  # a real video, but outside the allowed folder
    for path in (outside, os.path.join(allowed, "..", os.path.basename(outside)), "/etc/passwd",
                 os.path.join(allowed, "..", "..", "..", "etc", "passwd")):  # fmt: skip
        r = c.post("/api/scans", data={"path": path})
        assert r.status_code == 403 and r.json()["status"] == 403, (path, r.text)
    link = os.path.join(allowed, "sneaky.mp4")
    if not os.path.lexists(link):
        os.symlink(outside, link)
    try:
        r = c.post("/api/scans", data={"path": link})
        assert r.status_code == 403, r.text
    finally:
        os.unlink(link)
    r = c.post("/api/scans", data={"path": os.path.join(allowed, "missing.mp4")})
    assert r.status_code == 404
    r = c.get("/api/paths")
    assert r.json()["files"] == [os.path.realpath(media["work_b"])]
    # Both or neither of file and path.
    with open(media["other"], "rb") as fh:
        r = c.post("/api/scans", files={"file": ("x.mp4", fh)}, data={"path": media["work_b"]})
    assert r.status_code == 400
    assert c.post("/api/scans").status_code == 400


# -- matches ---------------------------------------------------------------------------------


def test_matches_by_work_scan_owner(world):
    admin, sid, wid = world["c"]["admin"], world["scan_a"]["id"], world["work_a"]
    by_work = admin.get(f"/api/works/{wid}/matches").json()["matches"]
    assert by_work and all(m["work_id"] == wid for m in by_work)
    assert {m["scan_id"] for m in by_work} == {sid}
    assert admin.get(f"/api/scans/{sid}/matches").json()["matches"] == by_work
    assert admin.get("/api/matches", params={"owner": "Studio-A"}).json()["matches"] == by_work
    assert admin.get("/api/matches", params={"work_id": wid}).json()["matches"] == by_work
    # The owner sees the matches against its work, the scanner those of its scan.
    assert world["c"]["studio-a"].get("/api/matches").json()["matches"] == by_work
    assert world["c"]["platform-a"].get("/api/matches").json()["matches"] == by_work
    csv_text = world["c"]["studio-a"].get(f"/api/works/{wid}/matches", params={"format": "csv"}).text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("scan_id,query,work_id") and len(lines) == len(by_work) + 1
    usage = world["c"]["studio-a"].get(f"/api/works/{wid}").json()["usage"]
    assert usage["videos"] == 1 and 3.5 < usage["matched_seconds"] < 6.5 and 0.3 < usage["reused_fraction"] < 0.6


# -- accounts and isolation ------------------------------------------------------------------


def test_accounts_and_tokens(world, server):
    admin = world["c"]["admin"]
    accounts = admin.get("/api/accounts").json()["accounts"]
    assert {a["name"] for a in accounts} >= {"admin", "studio-a", "studio-b", "platform-a", "platform-b"}
    assert all("token" not in a and "token_hash" not in a for a in accounts)
    r = admin.post("/api/accounts", json={"name": "studio-a", "role": "owner"})
    assert r.status_code == 409
    assert admin.post("/api/accounts", json={"name": "x", "role": "king"}).status_code == 400
    # Stored hashed: the database holds sha256(token), never the token.
    rows = dict(stored(server.database, "SELECT name, token_hash FROM accounts"))
    for name, token in world["tokens"].items():
        assert rows[name] == hashlib.sha256(token.encode()).hexdigest()
        assert token not in rows.values()
    for name in ("studio-a", "platform-a"):
        me = world["c"][name].get("/api/me").json()
        assert me["name"] == name
    r = admin.post("/api/accounts", json={"name": "temp", "role": "scanner"})
    temp = client(server, r.json()["token"])
    assert temp.get("/api/me").status_code == 200
    assert admin.delete("/api/accounts/temp").status_code == 200
    assert temp.get("/api/me").status_code == 401


def test_unauthenticated_and_bad_tokens(server):
    for headers in ({}, auth("rt_wrong"), {"Authorization": "Basic abc"}):
        r = httpx.get(server.url + "/api/works", headers=headers)
        assert r.status_code == 401 and r.json()["status"] == 401
    r = httpx.get(server.url + "/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_role_isolation_every_endpoint(world, server):
    """Every API endpoint (from the OpenAPI schema) and every console page, for every
    account: what it may and may not read or do."""
    c, sid_a, sid_b = world["c"], world["scan_a"]["id"], world["scan_b"]["id"]
    wa, wb = world["work_a"], world["work_b"]
    jobs = {"reg_a": world["reg_a"]["id"], "reg_b": world["reg_b"]["id"]}
    pair = c["platform-a"].get(f"/api/scans/{sid_a}/matches/{wa}").json()["segments"][0]["pairs"][0]
    qt = pair["query_time"]
    ALL = ("admin", "studio-a", "studio-b", "platform-a", "platform-b")
    # A monitor of platform-a, stopped at once: its event stream ends (a running one's would not).
    r = c["platform-a"].post("/api/monitors", json={"source": f"http://127.0.0.1:{free_port()}/live.m3u8"})
    assert r.status_code == 201, r.text
    mon = r.json()["id"]
    assert c["platform-a"].post(f"/api/monitors/{mon}/stop").json()["state"] == "stopped"
    # An upload-time check of platform-a: a claim on work A (the default policy tracks every match).
    with open(world["query_file"], "rb") as fh:
        r = c["platform-a"].post("/api/check", files={"file": ("repost.mp4", fh, "video/mp4")}, data={"upload_id": "v-1"})
    assert r.status_code == 200 and r.json()["claims"][0]["work_id"] == wa, r.text
    claim = r.json()["claims"][0]["id"]

    # (method, schema path, concrete url, {account: expected status}); unlisted accounts: the default.
    cases = [
        ("GET", "/api/me", "/api/me", {a: 200 for a in ALL}),
        ("GET", "/api/accounts", "/api/accounts", {"admin": 200, "*": 403}),
        ("POST", "/api/accounts", "/api/accounts", {"admin": 201, "*": 403}),
        ("DELETE", "/api/accounts/{name}", "/api/accounts/nobody", {"admin": 404, "*": 403}),
        ("POST", "/api/accounts/{name}/token", "/api/accounts/nobody/token", {"admin": 404, "*": 403}),
        ("POST", "/api/me/token", "/api/me/token", {"*": None}),  # any account, its own (tested elsewhere)
        ("GET", "/api/works", "/api/works", {"admin": 200, "studio-a": 200, "studio-b": 200, "*": 403}),
        ("POST", "/api/works", "/api/works", {"admin": 400, "studio-a": 400, "studio-b": 400, "*": 403}),
        ("GET", "/api/works/{work_id}", f"/api/works/{wa}", {"admin": 200, "studio-a": 200, "studio-b": 404, "*": 403}),
        ("PATCH", "/api/works/{work_id}", f"/api/works/{wa}", {"admin": 200, "studio-a": 200, "studio-b": 404, "*": 403}),
        ("DELETE", "/api/works/{work_id}", f"/api/works/{wa}", {"admin": None, "studio-a": None, "studio-b": 404, "*": 403}),
        ("GET", "/api/works/{work_id}/poster.jpg", f"/api/works/{wb}/poster.jpg",
         {"admin": 200, "studio-b": 200, "studio-a": 404, "*": 403}),
        ("GET", "/api/works/{work_id}/matches", f"/api/works/{wa}/matches",
         {"admin": 200, "studio-a": 200, "studio-b": 404, "*": 403}),
        ("GET", "/api/scans", "/api/scans", {"admin": 200, "platform-a": 200, "platform-b": 200, "*": 403}),
        ("POST", "/api/scans", "/api/scans", {"admin": 400, "platform-a": 400, "platform-b": 400, "*": 403}),
        ("GET", "/api/scans/{scan_id}", f"/api/scans/{sid_a}", {"admin": 200, "platform-a": 200, "platform-b": 404, "*": 403}),
        ("GET", "/api/scans/{scan_id}/result", f"/api/scans/{sid_a}/result",
         {"admin": 200, "platform-a": 200, "platform-b": 404, "*": 403}),
        ("GET", "/api/scans/{scan_id}/report.html", f"/api/scans/{sid_b}/report.html",
         {"admin": 200, "platform-b": 200, "platform-a": 404, "*": 403}),
        ("GET", "/api/scans/{scan_id}/matches", f"/api/scans/{sid_a}/matches",
         {"admin": 200, "platform-a": 200, "platform-b": 404, "*": 403}),
        # A match: the scan's account, admins, and the matched work's owner.
        ("GET", "/api/scans/{scan_id}/matches/{work_id}", f"/api/scans/{sid_a}/matches/{wa}",
         {"admin": 200, "platform-a": 200, "studio-a": 200, "*": 404}),
        ("GET", "/api/scans/{scan_id}/matches/{work_id}/sound.jpg",
         f"/api/scans/{sid_a}/matches/{wa}/sound.jpg?side=query&segment=0",  # a silent query: the placeholder
         {"admin": 307, "platform-a": 307, "studio-a": 307, "*": 404}),
        ("GET", "/api/scans/{scan_id}/matches/{work_id}/frame.jpg",
         f"/api/scans/{sid_a}/matches/{wa}/frame.jpg?side=query&t={qt}",
         {"admin": 200, "platform-a": 200, "studio-a": 200, "*": 404}),
        # Monitors: as scans (owners see what they find of their works as matches).
        ("GET", "/api/monitors", "/api/monitors", {"admin": 200, "platform-a": 200, "platform-b": 200, "*": 403}),
        ("POST", "/api/monitors", "/api/monitors", {"admin": 400, "platform-a": 400, "platform-b": 400, "*": 403}),
        ("GET", "/api/monitors/{monitor_id}", f"/api/monitors/{mon}", {"admin": 200, "platform-a": 200, "platform-b": 404, "*": 403}),
        ("POST", "/api/monitors/{monitor_id}/stop", f"/api/monitors/{mon}/stop",
         {"admin": 200, "platform-a": 200, "platform-b": 404, "*": 403}),
        ("GET", "/api/monitors/{monitor_id}/events", f"/api/monitors/{mon}/events",
         {"admin": 200, "platform-a": 200, "platform-b": 404, "*": 403}),
        ("GET", "/api/monitors/{monitor_id}/events/stream", f"/api/monitors/{mon}/events/stream",
         {"admin": 200, "platform-a": 200, "platform-b": 404, "*": 403}),
        ("DELETE", "/api/monitors/{monitor_id}", f"/api/monitors/{mon}",
         {"admin": None, "platform-a": None, "platform-b": 404, "*": 403}),
        ("GET", "/api/matches", "/api/matches", {a: 200 for a in ALL}),
        ("GET", "/api/jobs", "/api/jobs", {a: 200 for a in ALL}),
        ("GET", "/api/jobs/{job_id}", f"/api/jobs/{jobs['reg_a']}", {"admin": 200, "studio-a": 200, "*": 404}),
        ("GET", "/api/paths", "/api/paths", {a: 200 for a in ALL}),
        # Rights: policies (the work's owner), checks (scanners), claims (both sides of one), reach, webhooks.
        ("GET", "/api/works/{work_id}/policy", f"/api/works/{wa}/policy", {"admin": 200, "studio-a": 200, "studio-b": 404, "*": 403}),
        ("PUT", "/api/works/{work_id}/policy", f"/api/works/{wa}/policy", {"admin": 200, "studio-a": 200, "studio-b": 404, "*": 403}),
        ("DELETE", "/api/works/{work_id}/policy", f"/api/works/{wa}/policy",
         {"admin": 200, "studio-a": 200, "studio-b": 404, "*": 403}),
        ("GET", "/api/policy", "/api/policy", {"admin": 400, "studio-a": 200, "studio-b": 200, "*": 403}),
        ("PUT", "/api/policy", "/api/policy", {"admin": 400, "studio-a": 200, "studio-b": 200, "*": 403}),
        ("DELETE", "/api/policy", "/api/policy", {"admin": 400, "studio-a": 200, "studio-b": 200, "*": 403}),
        ("POST", "/api/check", "/api/check", {"admin": 400, "platform-a": 400, "platform-b": 400, "*": 403}),
        ("GET", "/api/claims", "/api/claims", {a: 200 for a in ALL}),
        ("GET", "/api/claims/{claim_id}", f"/api/claims/{claim}", {"admin": 200, "studio-a": 200, "platform-a": 200, "*": 404}),
        ("POST", "/api/claims/{claim_id}/{action}", f"/api/claims/{claim}/appeal",  # an active claim is not appealed
         {"admin": 409, "studio-a": 409, "platform-a": 409, "*": 404}),
        ("GET", "/api/claims/{claim_id}/takedown.html", f"/api/claims/{claim}/takedown.html",
         {"admin": 200, "studio-a": 200, "platform-a": 403, "*": 404}),
        ("GET", "/api/works/{work_id}/reach", f"/api/works/{wa}/reach", {"admin": 200, "studio-a": 200, "studio-b": 404, "*": 403}),
        ("GET", "/api/reach", "/api/reach", {"admin": 200, "studio-a": 200, "studio-b": 200, "*": 403}),
        ("GET", "/api/webhooks", "/api/webhooks", {a: 200 for a in ALL}),
        ("POST", "/api/webhooks", "/api/webhooks", {a: 422 for a in ALL}),  # no URL: the answer is who may, not what is called
        ("DELETE", "/api/webhooks/{hook_id}", "/api/webhooks/h-000000000000", {a: 404 for a in ALL}),
        # Console pages (not in the schema).
        ("GET", None, "/", {"admin": 200, "studio-a": 200, "studio-b": 200, "*": 303}),
        ("GET", None, "/accounts", {"admin": 200, "*": 403}),
        ("GET", None, f"/works/{wa}", {"admin": 200, "studio-a": 200, "*": 404}),
        ("GET", None, "/scans", {"admin": 200, "platform-a": 200, "platform-b": 200, "*": 303}),
        ("GET", None, f"/scans/{sid_a}", {"admin": 200, "platform-a": 200, "*": 404}),
        ("GET", None, f"/scans/{sid_a}/matches/{wa}", {"admin": 200, "platform-a": 200, "studio-a": 200, "*": 404}),
        ("GET", None, f"/scans/{sid_a}/report.html", {"admin": 200, "platform-a": 200, "platform-b": 404, "*": 403}),
        ("GET", None, "/monitors", {"admin": 200, "platform-a": 200, "platform-b": 200, "*": 303}),
        ("GET", None, f"/monitors/{mon}", {"admin": 200, "platform-a": 200, "platform-b": 404, "*": 403}),
        ("GET", None, "/claims", {a: 200 for a in ALL}),
        ("GET", None, f"/claims/{claim}", {"admin": 200, "studio-a": 200, "platform-a": 200, "*": 404}),
        ("POST", None, f"/claims/{claim}/appeal", {"admin": 409, "studio-a": 409, "platform-a": 409, "*": 404}),  # with a reason
    ]
    schema = httpx.get(server.url + "/openapi.json").json()["paths"]
    declared = {(m.upper(), p) for p, ops in schema.items() for m in ops}
    covered = {(m, p) for m, p, _, _ in cases if p}
    assert declared == covered, f"endpoints without isolation cases: {declared - covered}"

    for method, _, url, expect in cases:
        for account in ALL:
            want = expect[account] if account in expect else expect["*"]
            if want is None:
                continue  # would change the shared world (allowed: tested elsewhere)
            kwargs = {}
            if method == "POST" and url == "/api/accounts":
                kwargs["json"] = {"name": f"x-{account}", "role": "admin"}
            if method == "POST" and url == "/api/monitors":
                kwargs["json"] = {"source": "file:///etc/passwd"}  # refused: the answer is who may, not what runs
            if method == "PATCH" or (method == "POST" and url == "/api/webhooks"):
                kwargs["json"] = {}  # a change of nothing: the answer is who may, not what changed
            if method == "PUT":
                kwargs["json"] = {"action": "track"}  # the default's own terms
            if url.endswith("/appeal"):
                reason = "an appeal before any dispute"
                kwargs["json" if url.startswith("/api/") else "data"] = {"reason": reason}
            r = c[account].request(method, url, follow_redirects=False, **kwargs)
            assert r.status_code == want, (method, url, account, r.status_code, r.text[:200])
            if r.status_code in (403, 404) and url.startswith("/api/"):
                assert r.headers["content-type"].startswith("application/json") and r.json()["status"] == r.status_code
        r = httpx.request(method, server.url + url, follow_redirects=False)
        assert r.status_code in (401, 303), (method, url, "anonymous", r.status_code)

    # Listings only hold the caller's own data.
    assert [s["id"] for s in c["platform-b"].get("/api/scans").json()["scans"]] == [sid_b]
    assert {j["id"] for j in c["studio-b"].get("/api/jobs").json()["jobs"]} >= {jobs["reg_b"]}
    assert jobs["reg_a"] not in {j["id"] for j in c["studio-b"].get("/api/jobs").json()["jobs"]}
    for account in ("studio-b", "platform-b"):
        assert all(m["work_id"] != wa for m in c[account].get("/api/matches").json()["matches"])
        assert c[account].get("/api/matches", params={"scan_id": sid_a}).json()["matches"] == []
        assert c[account].get("/api/matches", params={"work_id": wa}).json()["matches"] == []
    # Nothing was changed by the refused requests.
    assert c["admin"].get(f"/api/works/{wa}").status_code == 200
    assert {a["name"] for a in c["admin"].get("/api/accounts").json()["accounts"]} >= {"studio-b"}
    assert not any(a["name"].startswith("x-") and a["name"] != "x-admin"
                   for a in c["admin"].get("/api/accounts").json()["accounts"])  # fmt: skip


def test_console_login_cookie(world, server):
    r = httpx.post(server.url + "/login", data={"token": "rt_nope"}, follow_redirects=False)
    assert r.status_code == 401
    r = httpx.post(server.url + "/login", data={"token": world["tokens"]["studio-a"]}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    with httpx.Client(base_url=server.url, cookies=r.cookies) as browser:
        page = browser.get("/")
        assert page.status_code == 200 and "Harbour Lights" in page.text and "Mountain Pass" not in page.text
        assert browser.get(f"/works/{world['work_a']}").status_code == 200
        assert browser.get(f"/works/{world['work_b']}").status_code == 404


# -- evidence ---------------------------------------------------------------------------------


def test_evidence_report_from_service(world):
    r = world["c"]["platform-a"].get(f"/api/scans/{world['scan_a']['id']}/report.html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "repost clip.mp4" in html and "Harbour Lights" in html and "Studio-A" in html
    assert html.count("data:image/jpeg;base64,") >= 6  # three frame pairs per segment
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_write_report_self_contained(media, tmp_path):
    work = Work("w1", "Harbour <Lights>", "Studio & Co", "film", 12.0, "ab" * 32, media["work_a"], "", True, False)
    gone = Work("w2", "Lost Work", "Nobody", "short", 10.0, "", str(tmp_path / "deleted.mp4"), "", True, False)
    result = ScanResult(query=media["query"], duration=8.0, matches=[
        WorkMatch(work, "video", 0.97, [Segment(0.0, 5.0, 3.0, 8.0, 0.97)]),
        WorkMatch(gone, "video", 0.8, [Segment(5.0, 7.0, 1.0, 3.0, 0.8)]),
    ])  # fmt: skip
    failed = ScanResult(query="broken.mp4", error="not a readable media file")
    out = evidence.write_report([result, failed], str(tmp_path / "report.html"), library=str(tmp_path / "lib"))
    html = open(out, encoding="utf-8").read()
    assert "Harbour &lt;Lights&gt;" in html and "Studio &amp; Co" in html  # escaped
    assert "work file unavailable" not in html  # placeholders are images, not text
    assert html.count("data:image/jpeg;base64,") == 2 * 3 * 2
    assert "not a readable media file" in html and "0:03.00" in html
    assert "src=\"http" not in html and "href=\"http" not in html


def test_scans_stored_before_records_still_render(world, server):
    """A scan job stored with only what the API shows (as before the lossless record was
    kept) still answers its result, match detail, match page and evidence report."""
    c, sid, wid = world["c"]["admin"], world["scan_a"]["id"], world["work_a"]
    legacy = "s-legacy000001"
    columns = "kind, account_id, name, status, params, result, error, attempts, created_at, started_at, finished_at"
    (row,) = stored(server.database, f"SELECT {columns} FROM jobs WHERE id = ?", (sid,))
    row = list(row)
    shown = json.loads(row[5])
    del shown["record"]
    row[1], row[5] = c.get("/api/me").json()["id"], json.dumps(shown)  # the admin's: no one else's lists change
    change_stored(server.database, f"INSERT INTO jobs (id, {columns}) VALUES (?, {', '.join('?' * len(row))})", [legacy, *row])
    assert c.get(f"/api/scans/{legacy}/result").json() == c.get(f"/api/scans/{sid}/result").json()
    old, new = (c.get(f"/api/scans/{s}/matches/{wid}").json() for s in (legacy, sid))
    assert old["segments"] and len(old["segments"]) == len(new["segments"])
    for a, b in zip(old["segments"], new["segments"]):
        assert {k: v for k, v in a.items() if k != "pairs"} == {k: v for k, v in b.items() if k != "pairs"}
        # Rebuilt from times rounded to the millisecond: the pairs agree to about that.
        for p, q in zip(a["pairs"], b["pairs"], strict=True):
            assert abs(p["query_time"] - q["query_time"]) <= 0.002 and abs(p["work_time"] - q["work_time"]) <= 0.002
    assert c.get(f"/scans/{legacy}/matches/{wid}").status_code == 200
    report = c.get(f"/api/scans/{legacy}/report.html")
    assert report.status_code == 200 and "Harbour Lights" in report.text and "Studio-A" in report.text
    assert report.text.count("data:image/jpeg;base64,") >= 6


def test_audio_only_work_and_scan(world, server, tmp_path):
    """An audio-only work (generated music) registered by upload, and an audio-only excerpt
    of it scanned through the API: the work is found by its sound. Its own accounts, and
    placed after the tests that count the shared world's works and matches."""
    admin = world["c"]["admin"]
    accounts = {}
    for name, role in (("label-c", "owner"), ("radio-c", "scanner")):
        r = admin.post("/api/accounts", json={"name": name, "role": role, "owner_name": "Label C"})
        assert r.status_code == 201, r.text
        accounts[role] = client(server, r.json()["token"])
    owner, scanner = accounts["owner"], accounts["scanner"]
    song = audiogen.music(31, 30.0)
    work_file = audiogen.write(str(tmp_path / "night-song.wav"), song)
    start = 8.0
    excerpt = song[int(start * audiogen.RATE) : int((start + 12.0) * audiogen.RATE)]
    query = audiogen.write(str(tmp_path / "radio excerpt.m4a"), excerpt)

    with open(work_file, "rb") as fh:
        r = owner.post("/api/works", files={"file": ("night-song.wav", fh, "audio/wav")},
                       data={"title": "Night Song", "category": "audio"})  # fmt: skip
    assert r.status_code == 202, r.text
    job = wait_job(owner, f"/api/jobs/{r.json()['job']['id']}")
    assert job["status"] == "done", job
    work = job["result"]["work"]
    assert (work["has_video"], work["has_audio"], work["owner"]) == (False, True, "Label C")
    assert abs(work["duration"] - 30.0) < 0.5

    with open(query, "rb") as fh:
        r = scanner.post("/api/scans", files={"file": ("radio excerpt.m4a", fh, "audio/mp4")},
                         data={"found_at": "javascript:alert(1)"})  # fmt: skip
    assert r.status_code == 400 and "found_at" in r.json()["detail"]
    with open(query, "rb") as fh:
        r = scanner.post("/api/scans", files={"file": ("radio excerpt.m4a", fh, "audio/mp4")},
                         data={"found_at": "https://video.example/v/77", "claimant": "Label C <rights@label-c.example>"})  # fmt: skip
    assert r.status_code == 202, r.text
    assert r.json()["scan"]["found_at"] == "https://video.example/v/77"
    scan = wait_job(scanner, f"/api/scans/{r.json()['scan']['id']}")
    assert scan["status"] == "done", scan
    (result,) = scanner.get(f"/api/scans/{scan['id']}/result").json()["results"]
    assert [m["work_id"] for m in result["matches"]] == [work["work_id"]]
    match = result["matches"][0]
    assert match["modality"] == "audio" and {s["modality"] for s in match["segments"]} == {"audio"}
    segment = match["segments"][0]
    assert abs(segment["work_start"] - (start + segment["query_start"])) < 0.5
    assert segment["query_end"] - segment["query_start"] > 6.0

    # Its pages answer too; where a picture would be, a placeholder.
    detail = scanner.get(f"/api/scans/{scan['id']}/matches/{work['work_id']}")
    assert detail.status_code == 200 and detail.json()["modality"] == "audio"
    assert owner.get(f"/scans/{scan['id']}/matches/{work['work_id']}").status_code == 200
    report = scanner.get(f"/api/scans/{scan['id']}/report.html")
    assert report.status_code == 200 and "Night Song" in report.text
    # Sound shown by sound: a spectrogram pair of the matched seconds, where and who as given.
    assert "Query sound · segment 1" in report.text and "Night Song sound" in report.text
    assert "unavailable" not in report.text
    assert "https://video.example/v/77" in report.text and "rights@label-c.example" in report.text
    assert hashlib.sha256(open(query, "rb").read()).hexdigest() in report.text
    for side in ("query", "work"):
        picture = owner.get(f"/api/scans/{scan['id']}/matches/{work['work_id']}/sound.jpg?side={side}&segment=0")
        assert picture.status_code == 200 and picture.content[:3] == b"\xff\xd8\xff"
    assert scanner.get(f"/api/scans/{scan['id']}/matches/{work['work_id']}/sound.jpg?side=query&segment=9").status_code == 404
    page = owner.get(f"/scans/{scan['id']}/matches/{work['work_id']}").text
    assert "sound.jpg?side=work&amp;segment=0" in page and "frame.jpg" not in page
    poster = owner.get(f"/api/works/{work['work_id']}/poster.jpg", follow_redirects=False)
    assert poster.status_code == 307 and poster.headers["location"] == "/static/placeholder.svg"


# -- the job queue across a crash --------------------------------------------------------------


def test_jobs_survive_kill_and_restart(tmp_path, media, new_database):
    """A running job (held by the test hook) and a queued one, then SIGKILL: after a
    restart both complete, the running one on its second attempt, each exactly once."""
    lib = str(tmp_path / "library")
    hold = tmp_path / "hold"
    hold.write_text("hold")
    database = new_database()
    # On a shared database a dead server's job is taken again when its lease runs out
    # (on SQLite, at the next start): a short lease keeps the test short.
    lease = ["--job-lease-s", "4"] if database else []
    srv = Server(lib, env={"REELTRACE_SERVICE_HOLD_FILE": str(hold)}, database=database, args=lease).start()
    try:
        c = client(srv, ADMIN_TOKEN)
        reg = upload(c, "/api/works", media["work_a"], title="Survivor").json()["job"]["id"]
        scan = upload(c, "/api/scans", media["query"]).json()["scan"]["id"]
        deadline = time.monotonic() + WAIT
        while c.get(f"/api/jobs/{reg}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert c.get(f"/api/scans/{scan}").json()["status"] == "queued"
    finally:
        srv.kill()
    assert dict(stored(srv.database, "SELECT id, status FROM jobs")) == {reg: "running", scan: "queued"}
    hold.unlink()
    if database:
        # Started after the dead server's lease ran out, the new one queues its job again
        # and takes the oldest first, as a start on SQLite does. (Within the lease, the
        # scan queued behind it would run first, before the work it should find exists.)
        time.sleep(float(lease[1]) + 1)
    srv = Server(lib, database=database, args=lease).start()
    try:
        c = client(srv, ADMIN_TOKEN)
        reg_job = wait_job(c, f"/api/jobs/{reg}")
        scan_job = wait_job(c, f"/api/scans/{scan}")
        assert reg_job["status"] == "done" and reg_job["attempts"] == 2, reg_job
        assert scan_job["status"] == "done" and scan_job["attempts"] == 1, scan_job
        works = c.get("/api/works").json()["works"]
        assert [w["title"] for w in works] == ["Survivor"]
        result = c.get(f"/api/scans/{scan}/result").json()["results"][0]
        assert [m["title"] for m in result["matches"]] == ["Survivor"]
        matches = c.get("/api/matches", params={"scan_id": scan}).json()["matches"]
        assert len(matches) == len(result["matches"][0]["segments"])  # recorded once
        assert len(c.get("/api/jobs").json()["jobs"]) == 2
    finally:
        srv.stop()
    assert dict(stored(srv.database, "SELECT id, status FROM jobs")) == {reg: "done", scan: "done"}


def test_bootstrap_admin(tmp_path, monkeypatch):
    from reeltrace.service import ADMIN_TOKEN_ENV, bootstrap_admin

    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    lib = str(tmp_path / "lib")
    token = bootstrap_admin(lib)
    assert token and token.startswith("rt_") and len(token) > 40
    assert bootstrap_admin(lib) is None  # printed once, on first start only
    db = ServiceDB(os.path.join(lib, "service.sqlite"))
    assert db.account_by_token(token).role == "admin"
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "rt_from-the-environment")
    assert bootstrap_admin(lib) == "rt_from-the-environment"
    assert db.account_by_token("rt_from-the-environment").name == "admin"
    assert db.account_by_token(token) is None
    db.close()


def test_job_progress_is_the_slower_chain(tmp_path):
    """A running job's progress is the share decoded by its slower stream; queued 0, done 1."""
    from dataclasses import replace

    from reeltrace.service.jobs import Workers

    db = ServiceDB(str(tmp_path / "service.db"))
    try:
        workers = Workers(str(tmp_path / "library"), db, count=0)
        job = db.add_job("scan", 1, "clip.mp4", {"path": "clip.mp4"})
        assert workers.progress(job) == 0.0
        running = replace(job, status="running")
        told = workers._tracker(job.id)
        told("picture", 5.0, 10.0)
        assert workers.progress(running) == 0.5
        told("sound", 8.0, 10.0)
        told("picture", 9.0, 10.0)
        assert workers.progress(running) == 0.8
        told("sound", 12.0, 10.0)  # a stream running past the probed duration
        assert workers.progress(running) == 0.9
        assert workers.progress(replace(job, status="done")) == 1.0
    finally:
        db.close()


def test_the_libraries_of_request_threads_that_ended_are_closed(tmp_path):
    """Each request thread opens its own Library; the server's threads come and go, and the
    connections of those that ended are closed when a new thread opens one (they piled up
    for as long as the server ran: on PostgreSQL, a connection each)."""
    from reeltrace.service.state import Service, ServiceConfig

    service = Service(ServiceConfig(library_folder=str(tmp_path / "library")))
    made = []
    try:
        for _ in range(6):
            thread = threading.Thread(target=lambda: made.append(service.lib) or service.lib.works())
            thread.start()
            thread.join()
        assert len({id(lib) for lib in made}) == 6
        # The sixth thread's library closed the five before it; it stays listed beside this
        # thread's (opened when the service started) until another thread opens one.
        assert [t for t, _ in service._libs][0] is threading.current_thread() and len(service._libs) == 2
        assert all(lib.store.database._connections == [] for lib in made[:5])
        assert made[5].store.database._connections != []
    finally:
        service.close()
