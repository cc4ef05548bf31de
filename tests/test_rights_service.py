"""Rights management through a real server process: policies, upload-time checks that scan
generated media, claims moved through their states by both sides (and refused where they
may not go), reach, webhooks to a local receiver, and every new endpoint's isolation.

World: studio-a owns work A (12 s), studio-b work B (8 s) and an audio-only song;
platform-a and platform-b are scanners. The upload "repost" shows A's 3-8 s scaled, then
3 s of unrelated footage (8 s; A's share of it 5/8, of A 5/12).

With ``REELTRACE_TEST_DATABASE=postgres`` the server keeps its tables in a PostgreSQL
database (tests/pgserver.py) instead of ``service.sqlite``: ``make test-backends`` runs this
file so too, and it must give the same answers.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import time

import pytest

import audiogen
from pgserver import new_database, pg_server  # noqa: F401  (fixtures: REELTRACE_TEST_DATABASE=postgres)
from reeltrace.service.rights import sign
from test_service import ADMIN_TOKEN, Server, change_stored, client, make_accounts, make_media, upload, wait_job


EVERY_METHOD_PATH = [
    ("PUT", "/api/works/{a}/policy"), ("GET", "/api/works/{a}/policy"), ("DELETE", "/api/works/{a}/policy"),
    ("GET", "/api/policy"), ("PUT", "/api/policy"), ("DELETE", "/api/policy"), ("POST", "/api/check"),
    ("GET", "/api/claims"), ("GET", "/api/claims/{c}"), ("POST", "/api/claims/{c}/dispute"),
    ("GET", "/api/claims/{c}/takedown.html"), ("GET", "/api/works/{a}/reach"), ("GET", "/api/reach"),
    ("GET", "/api/webhooks"), ("POST", "/api/webhooks"), ("DELETE", "/api/webhooks/h-000000000000"),
]  # fmt: skip


class Receiver:
    """A webhook receiver on 127.0.0.1: every delivery's headers and body. ``slow_first``:
    seconds it takes over the first delivery before it records it (a busy receiver)."""

    def __init__(self, slow_first: float = 0.0) -> None:
        self.got: list[tuple[dict, bytes]] = []
        self.came = threading.Condition()
        self.seen = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.came:
                    receiver.seen += 1
                    first = receiver.seen == 1
                if first:
                    time.sleep(slow_first)
                with receiver.came:
                    receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    receiver.came.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait(self, count: int, timeout: float = 60.0) -> list[tuple[dict, bytes]]:
        with self.came:
            self.came.wait_for(lambda: len(self.got) >= count, timeout)
            return list(self.got)


@pytest.fixture(scope="module")
def world(tmp_path_factory, new_database):
    media = make_media(str(tmp_path_factory.mktemp("rights-media")))
    song = audiogen.music(31, 30.0)
    media["song"] = audiogen.write(os.path.join(media["allowed"], "night-song.wav"), song)
    media["song_excerpt"] = audiogen.write(os.path.join(media["allowed"], "song excerpt.m4a"),
                                           song[int(8 * audiogen.RATE) : int(20 * audiogen.RATE)])  # fmt: skip
    library = str(tmp_path_factory.mktemp("rights") / "library")
    server = Server(library, allow=[media["allowed"]], args=["--allow-source-network", "127.0.0.0/8"],
                    database=new_database()).start()  # fmt: skip
    tokens = make_accounts(server, {"studio-a": "owner", "studio-b": "owner", "platform-a": "scanner",
                                    "platform-b": "scanner"})  # fmt: skip
    c = {name: client(server, tok) for name, tok in tokens.items()}
    works = {}
    for key, who, fields in (("a", "studio-a", {"title": "Harbour Lights", "category": "drama"}),
                             ("b", "studio-b", {"path": media["work_b"], "title": "Mountain Pass", "category": "documentary"}),
                             ("song", "studio-b", {"path": media["song"], "title": "Night Song", "category": "audio"})):  # fmt: skip
        r = upload(c[who], "/api/works", media["work_a"], **fields) if key == "a" else c[who].post("/api/works", data=fields)
        assert r.status_code == 202, r.text
        job = wait_job(c[who], f"/api/jobs/{r.json()['job']['id']}")
        assert job["status"] == "done", job
        works[key] = job["result"]["work"]["work_id"]
    yield {"server": server, "c": c, "media": media, "works": works, "db": server.database, "library": library}
    server.stop()


def check(c, path: str, **metadata) -> dict:
    """An upload-time check of ``path`` with ``metadata``; the answer."""
    with open(path, "rb") as fh:
        r = c.post("/api/check", files={"file": (os.path.basename(path), fh, "video/mp4")},
                   data={"metadata": json.dumps(metadata)})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def set_policy(c, work_id: str, **policy) -> None:
    r = c.put(f"/api/works/{work_id}/policy", json=policy)
    assert r.status_code == 200, r.text


def test_policies_are_the_work_s_its_owner_s_default_or_the_default(world):
    c, a, b = world["c"], world["works"]["a"], world["works"]["b"]
    assert c["studio-a"].get(f"/api/works/{a}/policy").json() == {"policy": {"action": "track", "min_seconds": 0.0,
        "min_query_share": 0.0, "min_work_share": 0.0, "modality": "any", "review_below": None}, "source": "default"}  # fmt: skip
    r = c["studio-b"].put("/api/policy", json={"action": "monetize", "min_seconds": 2})
    assert r.status_code == 200 and r.json()["account"] == "studio-b"
    assert c["studio-b"].get(f"/api/works/{b}/policy").json()["source"] == "account"
    set_policy(c["studio-b"], b, action="block", min_work_share=0.5)
    shown = c["studio-b"].get(f"/api/works/{b}/policy").json()
    assert shown["source"] == "work" and shown["policy"]["action"] == "block"
    assert c["studio-b"].delete(f"/api/works/{b}/policy").json()["source"] == "account"
    assert c["admin"].get("/api/policy?account=studio-b").json()["policy"]["action"] == "monetize"
    assert c["studio-b"].delete("/api/policy").json()["source"] == "default"
    # Another owner's work is not there; a scanner may not; nonsense is refused, one line each.
    assert c["studio-b"].get(f"/api/works/{a}/policy").status_code == 404
    assert c["studio-b"].put(f"/api/works/{a}/policy", json={"action": "track"}).status_code == 404
    assert c["platform-a"].get(f"/api/works/{a}/policy").status_code == 403
    assert c["studio-a"].get("/api/policy?account=studio-b").status_code == 404
    for bad in ({"action": "delete"}, {"action": "block", "min_query_share": 1.5}, {"action": "block", "modality": "smell"},
                {"action": "block", "owner": "me"}, {"action": "block", "review_below": -1}):  # fmt: skip
        r = c["studio-a"].put(f"/api/works/{a}/policy", json=bad)
        assert r.status_code == 422 and "\n" not in r.json()["detail"], (bad, r.text)


def test_the_check_decides_by_the_policy_on_real_scans(world):
    c, a, media = world["c"], world["works"]["a"], world["media"]
    scanner = c["platform-a"]
    set_policy(c["studio-a"], a, action="block", min_seconds=3)
    answer = check(scanner, media["query"], platform="clips", upload_id="u-1", uploader="someone", views=1000,
                   published_at="2026-12-01T08:00:00Z", url="https://clips.example/v/u-1")  # fmt: skip
    assert answer["decision"] == "block"
    (claim,) = answer["claims"]
    assert (claim["work_id"], claim["state"], claim["action"], claim["policy_source"]) == (a, "active", "block", "work")
    reuse = claim["reuse"]
    assert 4.0 <= reuse["seconds"] <= 6.0 and 0.45 <= reuse["query_share"] <= 0.8 and 0.3 <= reuse["work_share"] <= 0.55
    assert [m["work_id"] for m in answer["result"]["matches"]] == [a]
    # The scan is kept as the scanner's, with its evidence.
    assert scanner.get(f"/api/scans/{answer['scan_id']}").json()["status"] == "done"
    assert scanner.get(f"/api/scans/{answer['scan_id']}/report.html").status_code == 200

    # Each condition on the far side of the measured reuse: no claim, the upload allowed.
    for i, policy in enumerate(({"min_seconds": 10}, {"min_query_share": 0.9}, {"min_work_share": 0.6},
                                {"modality": "audio"})):  # fmt: skip
        set_policy(c["studio-a"], a, action="block", **policy)
        answer = check(scanner, media["query"], platform="clips", upload_id=f"u-miss-{i}")
        assert (answer["decision"], answer["claims"]) == ("allow", []), policy
    # ... and on the near side: claimed.
    set_policy(c["studio-a"], a, action="monetize", min_work_share=0.3, modality="video")
    answer = check(scanner, media["query"], platform="clips", upload_id="u-2")
    assert answer["decision"] == "monetize" and answer["claims"][0]["state"] == "active"
    # A score under review_below waits for the owner: claimed in review, the upload allowed meanwhile.
    set_policy(c["studio-a"], a, action="block", review_below=1.0)
    answer = check(scanner, media["query"], platform="clips", upload_id="u-3")
    assert answer["decision"] == "allow" and [x["state"] for x in answer["claims"]] == ["in_review"]
    # The same upload checked again makes no second claim: its claim stands.
    again = check(scanner, media["query"], platform="clips", upload_id="u-1", views=5000)
    assert again["decision"] == "block" and [x["id"] for x in again["claims"]] == [claim["id"]]
    # An upload of nothing registered is allowed, with no claim, and not kept (most uploads are such).
    queries = os.path.join(world["library"], "service", "queries")
    kept = len(os.listdir(queries))
    assert check(scanner, media["other"], platform="clips", upload_id="u-4")["decision"] == "allow"
    assert len(os.listdir(queries)) == kept


def test_the_check_hears_sound_only_reuse_under_a_sound_policy(world):
    c, song, media = world["c"], world["works"]["song"], world["media"]
    set_policy(c["studio-b"], song, action="monetize", modality="video")
    assert check(c["platform-b"], media["song_excerpt"], platform="radio", upload_id="s-1")["decision"] == "allow"
    set_policy(c["studio-b"], song, action="monetize", modality="audio", min_seconds=6)
    answer = check(c["platform-b"], media["song_excerpt"], platform="radio", upload_id="s-2")
    assert answer["decision"] == "monetize" and answer["claims"][0]["reuse"]["modalities"] == ["audio"]


def _claim(world, upload_id: str, who: str = "platform-a") -> dict:
    (claim,) = world["c"][who].get(f"/api/claims?upload_id={upload_id}").json()["claims"]
    return claim


def test_a_whole_dispute_and_every_refusal_on_the_way(world):
    c = world["c"]
    claim = _claim(world, "u-1")
    url = f"/api/claims/{claim['id']}"
    assert claim["actions"] == ["dispute"]
    assert c["studio-a"].get(url).json()["actions"] == ["release", "takedown"]
    # Those who may not see it get 404; the wrong side 403; no reason 400.
    for who in ("platform-b", "studio-b"):
        assert c[who].get(url).status_code == 404
        assert c[who].post(url + "/dispute", json={"reason": "mine"}).status_code == 404
    assert c["studio-a"].post(url + "/dispute", json={"reason": "x"}).status_code == 403
    assert c["platform-a"].post(url + "/release").status_code == 403
    assert c["platform-a"].post(url + "/dispute", json={"reason": "  "}).status_code == 400
    assert c["platform-a"].post(url + "/explode").status_code == 404
    r = c["platform-a"].post(url + "/dispute", json={"reason": "my own footage"})
    assert r.status_code == 200 and r.json()["state"] == "disputed" and r.json()["deadline"]
    assert r.json()["deadline"][:10] > claim["created_at"][:10]  # 30 days away by default
    assert c["platform-a"].post(url + "/dispute", json={"reason": "again"}).status_code == 409
    assert c["studio-a"].post(url + "/takedown").status_code == 409  # answer the dispute first
    assert c["studio-a"].post(url + "/uphold", json={"reason": "frame-exact copy"}).json()["state"] == "upheld"
    assert c["platform-a"].post(url + "/appeal", json={"reason": "fair use: review"}).json()["state"] == "appealed"
    notice = c["platform-a"].get(url + "/takedown.html")
    assert notice.status_code == 403  # the owner's until it is taken down
    draft = c["studio-a"].get(url + "/takedown.html")
    assert draft.status_code == 200 and "DRAFT" in draft.text
    done = c["studio-a"].post(url + "/takedown", json={"reason": "appeal rejected"}).json()
    assert done["state"] == "takedown" and done["actions"] == []
    for action in ("release", "uphold", "takedown"):
        assert c["studio-a"].post(url + f"/{action}").status_code == 409
    history = done["history"]
    assert [(h["action"], h["from_state"], h["to_state"]) for h in history] == [
        ("create", "", "active"), ("dispute", "active", "disputed"), ("uphold", "disputed", "upheld"),
        ("appeal", "upheld", "appealed"), ("takedown", "appealed", "takedown")]  # fmt: skip
    assert [h["actor"] for h in history] == ["reeltrace", "platform-a", "studio-a", "platform-a", "studio-a"]
    assert history[1]["reason"] == "my own footage"
    notice = c["platform-a"].get(url + "/takedown.html")
    assert notice.status_code == 200 and "DRAFT" not in notice.text
    for text in ("Harbour Lights", "Studio-A", "u-1", "https://clips.example/v/u-1", "someone", "fair use: review"):
        assert text in notice.text, text
    assert notice.text.count("<tr><td>") >= 1 + len(history)  # every segment, every change
    assert c["platform-b"].get(url + "/takedown.html").status_code == 404


def test_a_claim_in_review_is_confirmed_or_let_go_by_the_owner(world):
    c = world["c"]
    claim = _claim(world, "u-3")
    assert claim["state"] == "in_review" and claim["actions"] == []
    queue = c["studio-a"].get("/api/claims?state=in_review").json()["claims"]
    assert [x["id"] for x in queue] == [claim["id"]]
    r = c["studio-a"].post(f"/api/claims/{claim['id']}/uphold")
    assert r.json()["state"] == "active"
    assert c["studio-a"].post(f"/api/claims/{claim['id']}/release").json()["state"] == "released"
    assert c["studio-a"].get("/api/claims?state=bogus").status_code == 400


def test_a_dispute_the_owner_leaves_unanswered_is_released_by_itself(world):
    c = world["c"]
    claim = _claim(world, "u-2")
    r = c["platform-a"].post(f"/api/claims/{claim['id']}/dispute", json={"reason": "licensed"})
    assert r.json()["state"] == "disputed"
    # The response window runs out (its end is moved to the past in the database, as 30 days would).
    move = "UPDATE claims SET deadline = '2000-01-01T00:00:00+00:00' WHERE id = ?"
    change_stored(world["db"], move, (claim["id"],))
    shown = c["studio-a"].get(f"/api/claims/{claim['id']}").json()
    assert shown["state"] == "released"
    assert shown["history"][-1] | {"at": ""} == {"at": "", "actor": "reeltrace", "action": "expire", "from_state": "disputed",
                                                  "to_state": "released", "reason": "the owner did not answer within the response window"}  # fmt: skip


def test_reach_adds_up_each_upload_once_by_platform_and_day(world):
    c, a = world["c"], world["works"]["a"]
    reach = c["studio-a"].get(f"/api/works/{a}/reach").json()
    # Uploads of platform-a that showed A: u-1 (checked twice, latest views 5000), u-miss-0..3, u-2, u-3.
    assert reach["uploads"] == 7
    assert reach["views"] == 5000
    assert reach["by_platform"]["clips"]["uploads"] == 7
    day = reach["by_day"]["2026-12-01"]  # u-1's publication; the others said none: the day they were checked
    assert (day["uploads"], day["views"]) == (1, 5000) and 4.0 <= day["matched_seconds"] <= 6.0
    assert 4.0 * 7 <= reach["matched_seconds"] <= 6.0 * 7
    hall = c["studio-a"].get("/api/reach?category=drama").json()
    assert [w["work_id"] for w in hall["works"]] == [a] and hall["total"]["views"] == 5000
    assert c["studio-b"].get(f"/api/works/{a}/reach").status_code == 404
    assert c["platform-a"].get(f"/api/works/{a}/reach").status_code == 403
    assert c["studio-b"].get("/api/reach?category=drama").json()["works"] == []


def test_webhooks_deliver_signed_claim_events_to_both_sides_only(world):
    c, media, a = world["c"], world["media"], world["works"]["a"]
    # The owner's receiver is slow over the first delivery: the second must still come after it.
    owner_hook, scanner_hook, stranger_hook = Receiver(slow_first=1.0), Receiver(), Receiver()
    secrets = {}
    for who, receiver in (("studio-a", owner_hook), ("platform-a", scanner_hook), ("studio-b", stranger_hook)):
        r = c[who].post("/api/webhooks", json={"url": receiver.url, "secret": f"shared-secret-of-{who}"})
        assert r.status_code == 201 and r.json()["secret"] == f"shared-secret-of-{who}", r.text
        secrets[who] = r.json()["secret"]
    assert "secret" not in c["studio-a"].get("/api/webhooks").json()["webhooks"][0]
    set_policy(c["studio-a"], a, action="track")
    answer = check(c["platform-a"], media["query"], platform="clips", upload_id="u-hook")
    claim_id = answer["claims"][0]["id"]
    c["platform-a"].post(f"/api/claims/{claim_id}/dispute", json={"reason": "parody"})
    for who, receiver in (("studio-a", owner_hook), ("platform-a", scanner_hook)):
        got = receiver.wait(2)
        assert [json.loads(body)["event"] for _, body in got] == ["claim.created", "claim.dispute"], who
        for headers, body in got:
            assert headers["x-reeltrace-signature"] == sign(secrets[who], headers["x-reeltrace-timestamp"], body)
            assert json.loads(body)["claim"]["id"] == claim_id
        assert json.loads(got[1][1])["claim"]["state"] == "disputed"
    assert stranger_hook.wait(1, timeout=3.0) == []
    # Hooks to where the server must not connect, or not URLs at all, are refused.
    for url, status in (("http://10.1.2.3/hook", 403), ("file:///etc/passwd", 400), ("gopher://x.example/", 400)):
        assert c["studio-a"].post("/api/webhooks", json={"url": url}).status_code == status, url
    hook_id = c["studio-b"].get("/api/webhooks").json()["webhooks"][0]["id"]
    assert c["studio-a"].delete(f"/api/webhooks/{hook_id}").status_code == 404
    assert c["studio-b"].delete(f"/api/webhooks/{hook_id}").status_code == 204


def test_bad_checks_are_refused_one_line_each(world, tmp_path):
    c, media = world["c"], world["media"]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    cases = [({"metadata": json.dumps({"views": -1})}, media["query"]), ({"metadata": json.dumps({"views": "many"})}, media["query"]),
             ({"metadata": json.dumps({"published_at": "yesterday"})}, media["query"]),
             ({"metadata": json.dumps({"colour": "red"})}, media["query"]), ({"metadata": "[1, 2"}, media["query"]),
             ({"url": "javascript:alert(1)"}, media["query"]), ({}, str(broken))]  # fmt: skip
    for fields, path in cases:
        with open(path, "rb") as fh:
            r = c["platform-a"].post("/api/check", files={"file": ("x.mp4", fh, "video/mp4")}, data=fields)
        assert 400 <= r.status_code < 500 and "\n" not in r.json()["detail"], (fields, r.text)
    assert c["platform-a"].post("/api/check", data={"platform": "clips"}).status_code == 400  # no upload


def test_every_new_endpoint_authenticates_and_keeps_to_its_roles(world):
    c, a = world["c"], world["works"]["a"]
    claim = _claim(world, "u-1")
    anonymous = client(world["server"], None)
    for method, path in EVERY_METHOD_PATH:
        url = path.format(a=a, c=claim["id"])
        assert anonymous.request(method, url).status_code == 401, url
        assert client(world["server"], "rt_not-a-token").request(method, url).status_code == 401, url
    # Scanners may not keep policies or see reach; owners may not check uploads.
    for method, path in EVERY_METHOD_PATH[:6] + EVERY_METHOD_PATH[11:13]:
        assert c["platform-a"].request(method, path.format(a=a, c=claim["id"]), json={"action": "track"}).status_code == 403, path
    with open(world["media"]["query"], "rb") as fh:
        assert c["studio-a"].post("/api/check", files={"file": ("q.mp4", fh, "video/mp4")}).status_code == 403
    # Lists hold only one's own: the other owner and the other scanner see none of these claims.
    assert all(x["work_id"] != a for x in c["studio-b"].get("/api/claims").json()["claims"])
    assert all(x["upload"]["platform"] != "clips" for x in c["platform-b"].get("/api/claims").json()["claims"])
    assert c["studio-b"].get(f"/api/claims?work_id={a}").json()["claims"] == []
    assert {x["id"] for x in c["admin"].get("/api/claims").json()["claims"]} >= {claim["id"]}
    assert ADMIN_TOKEN  # the admin's client is the world's


def test_a_work_moved_to_another_owner_takes_its_claims_along(world):
    c, a = world["c"], world["works"]["a"]
    claim = _claim(world, "u-1")
    assert c["admin"].patch(f"/api/works/{a}", json={"account": "studio-b"}).status_code == 200
    try:
        assert c["studio-a"].get(f"/api/claims/{claim['id']}").status_code == 404
        assert c["studio-a"].get(f"/api/claims?work_id={a}").json()["claims"] == []
        moved = c["studio-b"].get(f"/api/claims/{claim['id']}")
        assert moved.status_code == 200 and moved.json()["state"] == "takedown"
        assert "Studio-B" in c["studio-b"].get(f"/api/claims/{claim['id']}/takedown.html").text
    finally:
        assert c["admin"].patch(f"/api/works/{a}", json={"account": "studio-a"}).status_code == 200
