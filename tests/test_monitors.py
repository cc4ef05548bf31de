"""Live-stream monitors in the service, against a real server process: a monitor on an HLS
stream served on 127.0.0.1 reports work A as it goes on and off air, as server-sent events
and as one match row that the work's owner sees; who may see and do what with a monitor;
hostile sources and bodies; the limits on running monitors; open reuses ended at shutdown
and monitors followed again on start; the console's monitor page updating live in Chromium.

The stream is ``streams.make_stream``: 8 s unregistered, 10 s of work A (6-16 s), 8 s
unregistered. Work A is registered through the service by the owner account ``studio``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time

import httpx
import pytest
from streams import BEFORE, EXCERPT, serve_folder, write_hls
from pgserver import new_database, pg_server  # noqa: F401  (fixtures: REELTRACE_TEST_DATABASE=postgres)
from test_service import WAIT, Server, auth, client, make_accounts, upload, wait_job
from test_console_browser import CHROMIUM, browser, screenshot, wait_for  # noqa: F401 (browser: a fixture)
from test_service_security import MiB, request_head, send_chunked

from reeltrace.service.files import FileRejected
from reeltrace.service.sources import check_source

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the streams are written by ffmpeg")

TOLERANCE = 1.5  # seconds a reported bound may be off the truth
ROLES = {"studio": "owner", "platform-a": "scanner", "platform-b": "scanner"}


@pytest.fixture(scope="module")
def live(tmp_path_factory, work_a_file, stream_media, new_database):
    """A server (keep-alives every second; 3 monitors at once, 2 per account), the accounts
    of ``ROLES``, work A registered by ``studio``, and the HLS stream served over HTTP. With
    ``REELTRACE_TEST_DATABASE=postgres`` the server's tables are in PostgreSQL (``make
    test-backends`` runs this file so too)."""
    base = tmp_path_factory.mktemp("monitors")
    allowed = str(base / "allowed")
    os.makedirs(allowed)
    args = ["--sse-keepalive-s", "1", "--max-monitors", "3", "--max-monitors-per-account", "2",
            "--allow-source-network", "127.0.0.0/8"]  # fmt: skip
    srv = Server(str(base / "library"), allow=[allowed], args=args, database=new_database()).start()
    hls_folder = write_hls(stream_media, str(base / "hls"))
    hls = serve_folder(hls_folder)
    try:
        tokens = make_accounts(srv, ROLES, owner_name=lambda name: "Studio Alpha")
        c = {name: client(srv, token) for name, token in tokens.items()}
        r = upload(c["studio"], "/api/works", work_a_file, title="Alpha Film", category="film")
        assert r.status_code == 202, r.text
        job = wait_job(c["studio"], f"/api/jobs/{r.json()['job']['id']}")
        assert job["status"] == "done", job
        yield {"server": srv, "c": c, "tokens": tokens, "work": job["result"]["work"]["work_id"], "allowed": allowed,
               "hls": f"http://127.0.0.1:{hls.server_address[1]}/index.m3u8", "hls_folder": hls_folder,
               "stream": stream_media}  # fmt: skip
    finally:
        hls.shutdown()
        srv.stop()


def dead_url() -> str:
    """An HTTP URL where nothing listens: a monitor on it keeps trying (``reconnect``
    events, for over a minute) without costing anything."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/live.m3u8"


def create(c: httpx.Client, source: str, name: str | None = None) -> dict:
    r = c.post("/api/monitors", json={"source": source, "name": name})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/api/monitors/{r.json()['id']}"
    return r.json()


def read_stream(srv: Server, token: str, monitor_id: str, until, headers: dict | None = None, after: int = 0):
    """The SSE stream of a monitor, parsed, until ``until(messages)`` or the stream ends:
    (messages as ``{"id", "event", "data"}``, comment lines, whether the server ended it)."""
    messages, comments, current = [], [], {}
    url = f"{srv.url}/api/monitors/{monitor_id}/events/stream"
    with httpx.stream("GET", url, params={"after": after}, headers={**auth(token), **(headers or {})},
                      timeout=httpx.Timeout(WAIT, connect=10)) as r:  # fmt: skip
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line and ":" in line:
                key, _, value = line.partition(":")
                current[key] = value.strip()
            elif current:
                if "data" in current:
                    messages.append({"id": current.get("id"), "event": current.get("event", "message"),
                                     "data": json.loads(current["data"])})  # fmt: skip
                current = {}
                if until(messages):
                    return messages, comments, False
    return messages, comments, True


def reuse_events(messages: list[dict]) -> list[dict]:
    return [m["data"] for m in messages if m["event"] == "message" and m["data"]["event"] in ("start", "update", "end")]


# -- storage ---------------------------------------------------------------------------------


def test_stored_events_are_bounded_and_a_reuse_is_one_match_row(tmp_path):
    from reeltrace.service.db import ServiceDB

    db = ServiceDB(str(tmp_path / "service.sqlite"))
    try:
        check_stored_events(db)
    finally:
        db.close()


def check_stored_events(db) -> None:
    """A monitor's events on ``db`` (any backend: ``test_service_postgres`` runs it on
    PostgreSQL): bounded, in order, and each reuse one match row that outlives the monitor."""
    from reeltrace.service.db import MonitorLimit
    from reeltrace.service.monitors import reuse_row

    acct, _ = db.create_account("platform", "scanner")
    monitor = db.add_monitor(acct.id, "Channel 1", "http://127.0.0.1/x.m3u8", max_running=5, max_per_account=1)
    with pytest.raises(MonitorLimit):
        db.add_monitor(acct.id, "Channel 2", "http://127.0.0.1/y.m3u8", max_running=5, max_per_account=1)
    event = {"event": "start", "source": monitor.source, "work_id": "w1", "title": "T", "owner": "O",
             "category": "film", "modality": "video", "score": 0.9, "stream_start": 8.0, "stream_end": 11.0,
             "work_start": 6.0, "work_end": 9.0, "detected_at": "2026-01-01T00:00:00.000Z", "stream_now": 12.0}  # fmt: skip
    started = db.add_monitor_event(monitor, event, keep=5, match=reuse_row(event))
    for i in range(1, 12):  # it grows, then ends: its one row follows it
        grown = {**started, "event": "end" if i == 11 else "update", "stream_end": 11.0 + i, "work_end": 9.0 + i}
        db.add_monitor_event(monitor, grown, keep=5, match=reuse_row(grown))
    db.add_monitor_event(monitor, {"event": "reconnect", "source": monitor.source, "message": "m 100%"}, keep=5)
    events = db.monitor_events(monitor.id)
    assert len(events) == 5 and [e["event"] for e in events[-2:]] == ["end", "reconnect"]
    assert events[-1]["message"] == "m 100%"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    (row,) = db.matches(scan_id=monitor.id)
    assert (row["query_name"], row["query_start"], row["query_end"], row["work_end"]) == ("Channel 1", 8.0, 22.0, 20.0)
    assert db.monitor_counts(monitor.id) == {"events": 5, "last_seq": events[-1]["seq"], "reuses": 1}
    assert db.set_monitor_state(monitor.id, "stopped") and not db.set_monitor_state(monitor.id, "failed", "x")
    db.delete_monitor(monitor.id)
    assert db.monitor(monitor.id) is None and db.monitor_events(monitor.id) == [] and len(db.matches(scan_id=monitor.id)) == 1


def test_a_monitor_is_named_without_the_secrets_of_its_url():
    from reeltrace.service.sources import default_name

    assert default_name("rtmp://user:secret@live.example:1935/app/key?token=abc#x") == "rtmp://live.example:1935/app/key"
    assert default_name("srt://[::1]:9000?passphrase=hunter22") == "srt://[::1]:9000"
    assert default_name("/srv/recordings/ch1.ts") == "ch1.ts"


# -- a work on air ---------------------------------------------------------------------------


def test_a_monitor_reports_the_work_on_air_as_events_and_one_match(live):
    c, srv, work = live["c"], live["server"], live["work"]
    monitor = create(c["platform-a"], live["hls"], "Channel 1")
    assert monitor["state"] == "running" and monitor["on_air"] == [] and monitor["account"] == "platform-a"

    # The whole stream, as it happens: the server ends it once the playlist is over.
    messages, _, ended = read_stream(srv, live["tokens"]["platform-a"], monitor["id"], until=lambda m: False)
    assert ended
    reuses = reuse_events(messages)
    assert {e["work_id"] for e in reuses} == {work}, messages
    assert [e["event"] for e in reuses][0] == "start" and [e["event"] for e in reuses].count("end") == 1
    assert len({e["reuse"] for e in reuses}) == 1  # the start, its updates and its end name one reuse
    end = reuses[-1]
    assert end["event"] == "end" and end["title"] == "Alpha Film" and end["owner"] == "Studio Alpha"
    assert end["stream_start"] == pytest.approx(BEFORE, abs=TOLERANCE)
    assert end["stream_end"] == pytest.approx(BEFORE + EXCERPT[1] - EXCERPT[0], abs=TOLERANCE)
    assert end["work_start"] == pytest.approx(EXCERPT[0], abs=TOLERANCE)
    assert end["work_end"] == pytest.approx(EXCERPT[1], abs=TOLERANCE)
    ids = [int(m["id"]) for m in messages if m["id"]]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert messages[-1]["event"] == "state" and messages[-1]["data"] == {"state": "stopped", "error": None}

    shown = c["platform-a"].get(f"/api/monitors/{monitor['id']}").json()
    assert shown["state"] == "stopped" and shown["on_air"] == [] and shown["stopped_at"]
    assert shown["counts"] == {"events": len(ids), "last_seq": ids[-1], "reuses": 1, "on_air": 0}

    # One match row for the reuse, with the stream as the query, for the work's owner, the admin
    # and the monitor's account; not for another scanner.
    def rows(who: str, **params) -> list[dict]:
        r = c[who].get("/api/matches", params={"scan_id": monitor["id"], **params})
        assert r.status_code == 200, r.text
        return r.json()["matches"]

    for who in ("studio", "admin", "platform-a"):
        (row,) = rows(who)
        assert (row["work_id"], row["query"], row["title"]) == (work, "Channel 1", "Alpha Film"), row
        assert (row["query_start"], row["query_end"], row["work_start"], row["work_end"]) == (
            end["stream_start"], end["stream_end"], end["work_start"], end["work_end"])
    assert rows("platform-b") == [] and rows("platform-b", work_id=work) == []
    assert [m["scan_id"] for m in c["studio"].get(f"/api/works/{work}/matches").json()["matches"]] == [monitor["id"]]
    assert c["studio"].get(f"/api/works/{work}").json()["usage"]["videos"] == 1
    page = c["studio"].get(f"/works/{work}")
    assert "Channel 1" in page.text and f"/scans/{monitor['id']}" not in page.text  # no frames are kept of a stream

    # Stored events, and resuming after one of them (Last-Event-ID wins over ?after=).
    stored = c["platform-a"].get(f"/api/monitors/{monitor['id']}/events", params={"limit": 1000}).json()["events"]
    assert [e["seq"] for e in stored] == ids and stored[-1] == end | {"seq": ids[-1]}
    assert c["platform-a"].get(f"/api/monitors/{monitor['id']}/events", params={"after": ids[-1]}).json() == {"events": []}
    again, _, ended = read_stream(srv, live["tokens"]["platform-a"], monitor["id"], until=lambda m: False,
                                  headers={"Last-Event-ID": str(ids[0])}, after=ids[-1])  # fmt: skip
    assert ended and [int(m["id"]) for m in again if m["id"]] == ids[1:] and again[-1]["event"] == "state"

    # Stopped and deleted: the monitor and its events go, the match row stays.
    assert c["platform-a"].post(f"/api/monitors/{monitor['id']}/stop").json()["state"] == "stopped"
    assert c["platform-a"].delete(f"/api/monitors/{monitor['id']}").json() == {"deleted": monitor["id"]}
    assert c["platform-a"].get(f"/api/monitors/{monitor['id']}").status_code == 404
    assert len(rows("studio")) == 1


# -- who may do what -------------------------------------------------------------------------


def test_monitors_are_their_scanners_own(live):
    c, srv = live["c"], live["server"]
    mine = create(c["platform-a"], dead_url())
    base = f"/api/monitors/{mine['id']}"
    try:
        # Another scanner: as if it did not exist, on every route (and the body names nothing of it).
        for method, url in (("GET", base), ("POST", base + "/stop"), ("DELETE", base), ("GET", base + "/events"),
                            ("GET", base + "/events/stream")):  # fmt: skip
            r = c["platform-b"].request(method, url)
            assert r.status_code == 404 and r.json()["detail"] == f"no monitor {mine['id']!r}", (method, url, r.text)
            # An owner may not use monitors at all; nobody without a token gets anything.
            assert c["studio"].request(method, url).status_code == 403, (method, url)
            assert httpx.request(method, srv.url + url).status_code == 401, (method, url)
        assert c["studio"].get("/api/monitors").status_code == 403
        assert c["studio"].post("/api/monitors", json={"source": dead_url()}).status_code == 403
        assert mine["id"] not in {m["id"] for m in c["platform-b"].get("/api/monitors").json()["monitors"]}
        assert mine["id"] in {m["id"] for m in c["platform-a"].get("/api/monitors").json()["monitors"]}
        listed = {m["id"]: m for m in c["admin"].get("/api/monitors").json()["monitors"]}
        assert listed[mine["id"]]["account"] == "platform-a"
        assert c["admin"].get(base).json()["state"] == "running"
        # Console pages: the same rules.
        assert c["platform-b"].get(f"/monitors/{mine['id']}").status_code == 404
        assert c["studio"].get(f"/monitors/{mine['id']}").status_code == 403
        assert c["studio"].get("/monitors", follow_redirects=False).status_code == 303
        assert mine["id"] in c["platform-a"].get("/monitors").text and mine["id"] not in c["platform-b"].get("/monitors").text
        assert c["platform-a"].get(base).json()["state"] == "running"  # nothing refused changed it
    finally:
        c["platform-a"].post(base + "/stop")


def test_the_event_stream_keeps_alive_and_ends_when_the_token_goes(live):
    """Nothing happens on a source that never answers but ``reconnect`` events: the stream
    sends ``: keep-alive`` comments meanwhile. A new token for the account ends it; revoking
    the account stops its monitors."""
    c, srv = live["c"], live["server"]
    r = c["admin"].post("/api/accounts", json={"name": "platform-c", "role": "scanner"})
    token = r.json()["token"]
    monitor = create(client(srv, token), dead_url())
    result: dict = {}

    def listen() -> None:
        result["out"] = read_stream(srv, token, monitor["id"], until=lambda m: False)

    reader = threading.Thread(target=listen)
    reader.start()
    deadline = time.monotonic() + WAIT
    while client(srv, token).get(f"/api/monitors/{monitor['id']}").json()["counts"]["events"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(2.5)  # a keep-alive (every second here) between the reconnects
    c["admin"].post("/api/accounts/platform-c/token")  # the old token stops working: so does its stream
    reader.join(60)
    assert not reader.is_alive()
    messages, comments, ended = result["out"]
    assert ended and ": keep-alive" in comments
    assert {m["data"]["event"] for m in messages} == {"reconnect"}
    assert c["admin"].delete("/api/accounts/platform-c").status_code == 200
    assert c["admin"].get(f"/api/monitors/{monitor['id']}").json()["state"] == "stopped"


# -- hostile input ---------------------------------------------------------------------------

HOSTILE = [
    "file:///etc/passwd", "file:/etc/passwd", "concat:/etc/passwd|/etc/hosts", "pipe:0", "fd:3", "data:text/plain,hi",
    "subfile,,start,0,end,100,,:/etc/passwd", "subfile:/etc/passwd", "crypto:file:/etc/passwd",
    "async:http://127.0.0.1/x.m3u8", "cache:http://127.0.0.1/x.m3u8", "tee:/tmp/x", "hls+http://127.0.0.1/x.m3u8",
    "gopher://127.0.0.1/", "ftp://127.0.0.1/x.ts", "javascript:alert(1)", "http://", "http:///index.m3u8",
    "rtmp://:1935/live", "udp://@:1234", "http://127.0.0.1:port/x", "http://127.0.0.1/a b.m3u8", "http://127.0.0.1/a\nb.m3u8",
    "http://127.0.0.1/\x00", " ", "/srv/x://y.ts",
]  # fmt: skip


def test_a_source_host_must_be_public_unless_its_network_is_allowed():
    for source in ("http://127.0.0.1:8000/x.m3u8", "http://localhost/x.m3u8", "http://10.1.2.3/x.m3u8",
                   "http://169.254.169.254/", "udp://239.1.1.1:1234", "srt://[::1]:9000", "http://[fe80::1]/x"):  # fmt: skip
        with pytest.raises(FileRejected) as refused:
            check_source(source, [])
        assert refused.value.status == 403, source
    assert check_source("http://127.0.0.1:8000/x.m3u8", [], ("127.0.0.0/8",)) == "http://127.0.0.1:8000/x.m3u8"
    assert check_source("udp://239.1.1.1:1234", [], ("239.0.0.0/8",)) == "udp://239.1.1.1:1234"
    assert check_source("rtmp://8.8.8.8/live/key", []) == "rtmp://8.8.8.8/live/key"  # public: resolved, not contacted
    with pytest.raises(FileRejected) as refused:
        check_source("http://no-such-host.invalid/x.m3u8", [], ("0.0.0.0/0",))
    assert refused.value.status == 400


def test_hostile_sources_are_refused(live, tmp_path):
    c, srv = live["c"], live["server"]
    before = c["admin"].get("/api/monitors").json()["monitors"]
    for source in HOSTILE:
        r = c["platform-a"].post("/api/monitors", json={"source": source})
        assert r.status_code in (400, 422), (source, r.status_code, r.text)
        detail = r.json()["detail"]
        assert "\n" not in detail and "Traceback" not in r.text, (source, detail)
    # Hosts off the public internet other than the one network this server allows (loopback):
    # the private network, a cloud's metadata address, IPv6 loopback, a multicast group.
    for source in ("http://10.0.0.5/live.m3u8", "http://169.254.169.254/latest/meta-data/", "http://[::1]/x.m3u8",
                   "udp://239.1.1.1:1234", "rtsp://192.168.1.20/cam"):  # fmt: skip
        r = c["platform-a"].post("/api/monitors", json={"source": source})
        assert r.status_code == 403 and "--allow-source-network" in r.json()["detail"], (source, r.text)
    # Server paths: as scans take them, under the allowed folder only ('..' and symlinks resolved).
    outside = tmp_path / "outside.ts"
    outside.write_bytes(b"\x47" * 188)
    link = os.path.join(live["allowed"], "link.ts")
    os.symlink(outside, link)
    try:
        for path, status in ((str(outside), 403), (link, 403), (os.path.join(live["allowed"], "..", "outside.ts"), 403),
                             ("/etc/passwd", 403), (os.path.join(live["allowed"], "missing.ts"), 404)):  # fmt: skip
            r = c["platform-a"].post("/api/monitors", json={"source": path})
            assert r.status_code == status, (path, r.text)
    finally:
        os.unlink(link)
    # Lengths, shapes and sizes.
    for body, status in (({"source": "http://h/" + "x" * 2048}, 422), ({"source": dead_url(), "name": "n" * 201}, 422),
                         ({"source": dead_url(), "owner": "x"}, 422), ({"source": 7}, 422), ({}, 422), ([], 422),
                         ({"source": dead_url(), "name": "x" * (70 << 10)}, 413)):  # fmt: skip
        r = c["platform-a"].post("/api/monitors", json=body)
        assert r.status_code == status and r.json()["detail"], (str(body)[:80], r.status_code, r.text[:200])
    assert c["admin"].get("/api/monitors").json()["monitors"] == before  # nothing was created
    # Without a token, a body is not read at all: 401 after its first chunk of 64.
    sent, status, _ = send_chunked(srv, request_head("/api/monitors", None, "application/json"),
                                   (b'{"source": "' if i == 0 else b"x" * MiB for i in range(64)))  # fmt: skip
    assert status == 401 and sent < 32 * MiB, (status, sent)


def test_running_monitors_are_limited(live):
    """At most 2 running monitors per account and 3 on the server (this server's options)."""
    c = live["c"]
    made = [create(c["platform-b"], dead_url()) for _ in range(2)]
    try:
        r = c["platform-b"].post("/api/monitors", json={"source": dead_url()})
        assert r.status_code == 429 and r.json()["detail"] == "too many running monitors: an account may run at most 2"
        made.append(create(c["admin"], dead_url()))
        r = c["admin"].post("/api/monitors", json={"source": dead_url()})
        assert r.status_code == 429 and r.json()["detail"] == "too many running monitors: this server runs at most 3"
        c["platform-b"].post(f"/api/monitors/{made[0]['id']}/stop")  # a stopped monitor no longer counts
        made.append(create(c["platform-b"], dead_url()))
    finally:
        for m in made:
            c["admin"].delete(f"/api/monitors/{m['id']}")


# -- shutdown and start ----------------------------------------------------------------------


def test_shutdown_ends_open_reuses_and_the_next_start_follows_again(live):
    """A recording still being written, under the allowed folder, stops growing while work A is
    on air. Once the reuse has started the server is shut down (SIGTERM): the reuse ends
    (an ``end`` event, its match row final), and the next start follows the monitor again."""
    c, srv = live["c"], live["server"]
    data = open(live["stream"], "rb").read()
    recording = os.path.join(live["allowed"], "recording.ts")
    with open(recording, "wb") as fh:
        fh.write(data[: len(data) * 15 // 26 // 188 * 188])  # about 15 s of the 26: the work is on air there
    monitor = create(c["platform-a"], recording)
    assert monitor["source"] == os.path.realpath(recording) and monitor["name"] == "recording.ts"
    messages, _, _ = read_stream(srv, live["tokens"]["platform-a"], monitor["id"],
                                 until=lambda m: any(e["event"] == "start" for e in reuse_events(m)))  # fmt: skip
    start = reuse_events(messages)[-1]
    srv.stop()
    srv.start()
    shown = c["platform-a"].get(f"/api/monitors/{monitor['id']}").json()
    assert shown["state"] == "running", shown  # followed again
    events = c["platform-a"].get(f"/api/monitors/{monitor['id']}/events", params={"limit": 1000}).json()["events"]
    ends = [e for e in events if e["event"] == "end"]
    assert ends and ends[0]["reuse"] == start["reuse"], events
    (row,) = [m for m in c["studio"].get("/api/matches", params={"scan_id": monitor["id"]}).json()["matches"]
              if m["query_start"] == pytest.approx(ends[0]["stream_start"])]  # fmt: skip
    assert row["query_end"] == ends[0]["stream_end"]
    c["platform-a"].delete(f"/api/monitors/{monitor['id']}")


# -- the console -----------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium")
def test_the_monitor_page_shows_the_work_coming_on_air_without_reloading(live, browser, tmp_path):
    """A scanner signs in, starts a monitor from the monitors page and is taken to its page
    while its stream is held back (nothing on air); then the stream plays, and the work
    appears on air and on the timeline through the event stream, which the page's cookie
    authenticates: the page is never reloaded. The stop button ends it."""
    from selenium.webdriver.common.by import By

    srv, d = live["server"], browser
    gate = threading.Event()
    held = serve_folder(live["hls_folder"], gate=gate)  # segments wait for the gate
    try:
        d.get(srv.url + "/login")
        d.find_element(By.ID, "token").send_keys(live["tokens"]["platform-a"])
        d.find_element(By.ID, "login-button").click()
        wait_for(d, lambda d: "/scans" in d.current_url, "the scanner's first page")
        d.get(srv.url + "/monitors")
        d.find_element(By.ID, "monitor-source").send_keys(f"http://127.0.0.1:{held.server_address[1]}/index.m3u8")
        d.find_element(By.ID, "monitor-name").send_keys("Channel 2")
        d.find_element(By.ID, "monitor-submit").click()
        wait_for(d, lambda d: d.find_element(By.ID, "monitor").get_attribute("data-monitor-id"), "the monitor's page")
        monitor_id = d.find_element(By.ID, "monitor").get_attribute("data-monitor-id")
        assert d.find_element(By.ID, "on-air-empty").is_displayed() and not d.find_element(By.ID, "on-air").is_displayed()
        assert d.find_element(By.ID, "monitor-state").text.lower() == "running"
        d.execute_script("window.notReloaded = true;")  # gone if the page were loaded again
        gate.set()
        # The event stream redraws the table, so the row is read inside the wait (as text), never
        # held as an element that a redraw can make stale.
        row_text = wait_for(d, lambda d: [t for r in d.find_elements(By.CSS_SELECTOR, "#on-air tbody tr") if "Alpha Film" in (t := r.text)],
                            "the work on air")[0]  # fmt: skip
        assert d.execute_script("return window.notReloaded === true;")
        assert "video" in row_text and not d.find_element(By.ID, "on-air-empty").is_displayed()
        wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#airtime .airrow .seg.on"), "the reuse on the timeline")
        assert "start" in d.find_element(By.ID, "event-log").text.lower()
        screenshot(d, "monitor", str(tmp_path))

        d.find_element(By.ID, "monitor-stop").click()
        wait_for(d, lambda d: d.find_element(By.ID, "monitor-state").text.lower() == "stopped", "the stopped state")
        wait_for(d, lambda d: d.find_element(By.ID, "on-air-empty").is_displayed(), "nothing on air after the stop")
        assert not d.find_elements(By.ID, "monitor-stop") and d.execute_script("return window.notReloaded === true;")
        shown = live["c"]["platform-a"].get(f"/api/monitors/{monitor_id}").json()
        assert shown["state"] == "stopped" and shown["on_air"] == [] and shown["counts"]["reuses"] >= 1
    finally:
        gate.set()
        held.shutdown()
