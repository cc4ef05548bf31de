"""Hostile requests to every upload and JSON endpoint of a real server process, with and
without a token: bodies of many sizes (0, 1, limit-1, limit, limit+1, huge chunked), broken
multipart boundaries, missing and duplicated fields, hostile file names, wrong content
types, JSON of wrong shapes and deep nesting.

Deterministic (a fixed list, no randomness). For every request: never a 500, always a JSON
error body with ``detail``, never a Python traceback; afterwards the server still answers,
the works list is unchanged and no stray file is left in the upload folders.
"""

from __future__ import annotations

import json
import os

import pytest
from pgserver import new_database, pg_server  # noqa: F401  (fixtures: REELTRACE_TEST_DATABASE=postgres)
from test_service import ADMIN_TOKEN, MAX_UPLOAD_MB, Server, client, make_media, upload, wait_job
from test_service_security import MiB, request_head, send_chunked, upload_folders

LIMIT = MAX_UPLOAD_MB * MiB
JSON_LIMIT = 64 << 10
UPLOADS = ("/api/works", "/api/scans")
JSON_ROUTES = ("/api/accounts", "/api/monitors")
FORMS = ("/login",)
HOSTILE_NAMES = ["../../x.mp4", "a\x00b.mp4", "n" * 300 + ".mp4", "\u202egpm.exe", "CON", "..", "", " ",
                 "x.mp4\r\nX-Injected: 1", "%2e%2e%2fx.mp4", "clip.MP4;rm -rf"]  # fmt: skip
JSON_BODIES = [b"", b"null", b"[]", b"1", b'"x"', b"{", b'{"name": null, "role": 7}', b'{"name": ["a"], "role": {}}',
               b'{"name": "' + b"a" * 500 + b'", "role": "owner"}', b"[" * 5000 + b"]" * 5000,
               b'{"a":' * 3000 + b"1" + b"}" * 3000, b"\xff\xfe\x00", b'{"name": "x\\ud800", "role": "scanner"}',
               b'{"name": "ok", "role": "admin", "role": "owner", "owner_name": 1e999}']  # fmt: skip


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory, new_database):
    media = make_media(str(tmp_path_factory.mktemp("fuzz-media")))
    lib = str(tmp_path_factory.mktemp("fuzz") / "library")
    srv = Server(lib, allow=[media["allowed"]], database=new_database()).start()
    admin = client(srv, ADMIN_TOKEN)
    r = admin.post("/api/accounts", json={"name": "fuzz-owner", "role": "owner"})
    owner = r.json()["token"]
    r = upload(client(srv, owner), "/api/works", media["other"], title="Kept")
    assert wait_job(client(srv, owner), f"/api/jobs/{r.json()['job']['id']}")["status"] == "done"
    yield {"server": srv, "tokens": [None, "rt_bogus", owner, ADMIN_TOKEN], "media": media}
    srv.stop()


def check(status: int, body: bytes, what) -> None:
    assert status != 500 and status < 600, (what, status, body[:300])
    assert b"Traceback" not in body and b'File "' not in body, (what, body[:300])
    if status >= 400:
        doc = json.loads(body)
        assert isinstance(doc, dict) and doc.get("detail"), (what, status, body[:300])


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "fuzzBOUNDARY") -> bytes:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode("utf-8", "surrogateescape") + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


MP4_HEAD = b"\x00\x00\x00\x18ftypmp42"


def upload_cases(media) -> list[tuple[str, dict, bytes]]:
    """(content type, extra headers, body) of hostile upload requests."""
    ct = "multipart/form-data; boundary=fuzzBOUNDARY"
    junk = MP4_HEAD + b"\0" * 1000
    real = open(media["other"], "rb").read()
    cases = [
        (ct, b""),
        (ct, b"-"),
        (ct, b"--fuzzBOUNDARY\r\n"),  # never closed
        (ct, b"--otherBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--otherBOUNDARY--\r\n"),
        ("multipart/form-data", multipart([("file", "x.mp4", junk)])),  # no boundary parameter
        ("multipart/form-data; boundary=", multipart([("file", "x.mp4", junk)])),
        (ct, multipart([("title", None, b"no file")])),
        (ct, multipart([("file", "a.mp4", junk), ("file", "b.mp4", junk)])),  # duplicated file
        (ct, multipart([("path", None, b"/etc/passwd"), ("path", None, b"/etc/shadow")])),
        (ct, multipart([("file", "x.mp4", junk), ("path", None, media["work_b"].encode())])),
        (ct, multipart([("file", "x.mp4", b"")])),
        (ct, multipart([("file", "x.mp4", junk), ("work_id", None, b"../../etc")])),
        (ct, multipart([("file", "x.mp4", junk), ("category", None, b"\x00")])),
        (ct, multipart([("file", "x.mp4", real.replace(b"avc1", b"zzzz"))])),  # probe fails oddly
        (ct, multipart([("file", "x.mp4", real[:2000])])),  # a video's first bytes only
        (ct, multipart([("file", "x.mp4", b"\xff" * 5000)])),
        ("application/json", b'{"file": "x"}'),
        ("text/plain", junk),
        ("application/x-www-form-urlencoded", b"path=%2Fetc%2Fpasswd&path=x"),
        ("application/x-www-form-urlencoded", b"%%%%"),
    ]
    cases += [(ct, multipart([("file", name, junk)])) for name in HOSTILE_NAMES]
    # Sizes around the limit: the body itself is limit-1, limit and limit+1 bytes of file.
    for n in (LIMIT - 1, LIMIT, LIMIT + 1, LIMIT + (64 << 10) + 1):
        cases.append((ct, multipart([("file", "big.mp4", MP4_HEAD + b"\0" * (n - len(MP4_HEAD)))])))
    return [(t, {}, b) for t, b in cases]


def post(srv: Server, path: str, token, content_type: str, body: bytes) -> tuple[int, bytes]:
    """One request with a declared length (sent whole unless the server answers first)."""
    head = request_head(path, token, content_type, len(body))
    sent, status, answer = send_chunked_raw(srv, head, body)
    return status, answer


def send_chunked_raw(srv: Server, head: bytes, body: bytes):
    import select
    import socket

    from test_service_security import read_response

    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.settimeout(120)
    try:
        sock.sendall(head)
        sent = 0
        for i in range(0, len(body), 1 << 18):
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(body[i : i + (1 << 18)])
            except OSError:
                break
            sent += min(1 << 18, len(body) - i)
        return sent, *read_response(sock)
    finally:
        sock.close()


def test_fuzz_every_body_endpoint(fuzz):
    srv, media = fuzz["server"], fuzz["media"]
    admin = client(srv, ADMIN_TOKEN)
    works_before = admin.get("/api/works").json()
    folders_before = upload_folders(srv)
    accounts_before = admin.get("/api/accounts").json()
    count = 0
    for token in fuzz["tokens"]:
        for path in UPLOADS:
            for content_type, _, body in upload_cases(media):
                status, answer = post(srv, path, token, content_type, body)
                check(status, answer, (path, token, content_type, body[:80]))
                if token in (None, "rt_bogus"):
                    assert status == 401, (path, status)
                count += 1
            # Huge chunked upload, no length.
            chunks = [b"--fuzzBOUNDARY\r\n"] + [b"\0" * MiB] * (MAX_UPLOAD_MB + 24)
            sent, status, answer = send_chunked(srv, request_head(path, token, "multipart/form-data; boundary=fuzzBOUNDARY"), chunks)
            check(status, answer, (path, token, "huge chunked"))
            assert status in (400, 401, 413) and sent < (MAX_UPLOAD_MB + 20) * MiB, (path, token, status, sent)
            count += 1
        for path in JSON_ROUTES:
            for body in JSON_BODIES + [b'{"name": "' + b"a" * (n - 12) + b'", "r": 1}' for n in (JSON_LIMIT - 1, JSON_LIMIT, JSON_LIMIT + 1)]:
                for content_type in ("application/json", "text/plain", "multipart/form-data; boundary=x"):
                    status, answer = post(srv, path, token, content_type, body)
                    check(status, answer, (path, token, content_type, body[:80]))
                    count += 1
            sent, status, answer = send_chunked(srv, request_head(path, token, "application/json"),
                                                (b"[" * MiB for _ in range(64)))  # fmt: skip
            check(status, answer, (path, token, "huge chunked json"))
            assert status in (401, 413) and sent < 48 * MiB, (status, sent)
            count += 1
        for path in FORMS:
            for body in (b"", b"token=" + b"x" * (JSON_LIMIT + 10), b"token=%00", b"token=" + "\u202e".encode() * 50, b"\xff\xfe"):
                status, answer = post(srv, path, token, "application/x-www-form-urlencoded", body)
                assert status != 500 and b"Traceback" not in answer, (path, status, answer[:200])
                count += 1
    assert count > 300
    # Afterwards: the server answers, nothing stored was lost, nothing was left behind.
    assert admin.get("/api/works").json() == works_before
    accounts = admin.get("/api/accounts").json()["accounts"]
    created = [a for a in accounts if a not in accounts_before["accounts"]]
    assert all(a["role"] in ("owner", "scanner") for a in created), created  # well-formed ones may pass
    assert upload_folders(srv) == folders_before
    assert admin.get("/api/monitors").json()["monitors"] == []  # no body here names a source
    jobs = admin.get("/api/jobs").json()["jobs"]
    assert [j["status"] for j in jobs if j["kind"] == "register"] == ["done"]
    assert all(os.path.basename(p) not in ("passwd", "shadow") for p in folders_before)
