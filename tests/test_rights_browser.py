"""The console's rights pages against a real server: the claims an account may see, a claim
with its evidence and its history, the actions each side may take as form posts, the
owner's review queue, the takedown notice, and the catalogue's reach.

World: northlight owns Harbour Lights (work A, 12 s), with the policy "block at 3 s";
clipshare, a scanner, checked the upload v-1001 (48,210 views), which shows A's 3-8 s:
an active claim. Then the policy sends every match to review (``review_below`` 1.0), and
clipshare's upload v-2002 (1,200 views) makes a claim in the review queue. granite (an
owner) and vidhub (a scanner) are the strangers who may see neither.

The page tests run on any machine; the browser walk (a dispute, upheld, appealed and taken
down, each side signed in in turn) skips when /usr/bin/chromium (Debian packages
``chromium`` and ``chromium-driver``) or selenium is missing. Screenshots go to a
temporary folder, or to ``$REELTRACE_SCREENSHOT_DIR`` (e.g. docs/screenshots) when set.
"""

from __future__ import annotations

import json
import os
import re

import httpx
import pytest

from test_console_browser import CHROMIUM, browser, images_loaded, screenshot, wait_for  # noqa: F401 (browser: a fixture)
from test_service import Server, client, make_accounts, make_media, upload, wait_job

OWNERS = {"northlight": "Northlight Studios", "granite": "Granite Films"}
VIEWS = {"v-1001": 48210, "v-2002": 1200}


def check(c: httpx.Client, path: str, **metadata) -> dict:
    """An upload-time check of ``path`` with ``metadata`` (as a platform sends it); the answer."""
    with open(path, "rb") as fh:
        r = c.post("/api/check", files={"file": (os.path.basename(path), fh, "video/mp4")},
                   data={"metadata": json.dumps(metadata)})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    media = make_media(str(tmp_path_factory.mktemp("rights-browser-media")))
    srv = Server(str(tmp_path_factory.mktemp("rights-browser") / "library"), allow=[media["allowed"]]).start()
    tokens = make_accounts(srv, {"northlight": "owner", "granite": "owner", "clipshare": "scanner", "vidhub": "scanner"},
                           owner_name=lambda name: OWNERS.get(name, name))  # fmt: skip
    c = {name: client(srv, token) for name, token in tokens.items()}
    r = upload(c["northlight"], "/api/works", media["work_a"], title="Harbour Lights", category="drama")
    assert r.status_code == 202, r.text
    job = wait_job(c["northlight"], f"/api/jobs/{r.json()['job']['id']}")
    assert job["status"] == "done", job
    work = job["result"]["work"]["work_id"]
    claims = {}
    for upload_id, policy in (("v-1001", {"action": "block", "min_seconds": 3}),
                              ("v-2002", {"action": "block", "min_seconds": 3, "review_below": 1.0})):  # fmt: skip
        assert c["northlight"].put(f"/api/works/{work}/policy", json=policy).status_code == 200
        answer = check(c["clipshare"], media["query"], platform="clipshare", upload_id=upload_id, uploader="harbour_fan_88",
                       views=VIEWS[upload_id], published_at="2026-12-01T08:00:00Z",
                       url=f"https://clipshare.example/watch/{upload_id}")  # fmt: skip
        (claim,) = answer["claims"]
        claims[upload_id] = claim["id"]
    assert answer["claims"][0]["state"] == "in_review"
    yield {"server": srv, "tokens": tokens, "c": c, "work": work, "claim": claims["v-1001"], "queued": claims["v-2002"]}
    srv.stop()


def alert(page: httpx.Response) -> str:
    """The one-line refusal a claim page shows."""
    found = re.search(r'<div class="alert error" role="alert" id="claim-error">([^<]*)</div>', page.text)
    return found.group(1) if found else ""


def test_claim_pages_show_each_side_its_own_and_refuse_in_one_line(world):
    c, claim, work = world["c"], world["claim"], world["work"]
    page = f"/claims/{claim}"
    for who in ("admin", "northlight", "clipshare"):
        r = c[who].get(page)
        assert r.status_code == 200 and 'data-state="active"' in r.text, who
        assert claim in c[who].get("/claims").text
    # Those who may not see the claim get 404, as from the API; nor does it show in their lists.
    for who in ("granite", "vidhub"):
        assert c[who].get(page).status_code == 404
        assert c[who].post(page + "/dispute", data={"reason": "mine"}).status_code == 404
        assert claim not in c[who].get("/claims").text and "Harbour Lights" not in c[who].get(f"/claims?work={work}").text
    assert c["clipshare"].get("/claims/c-000000000000").status_code == 404
    assert httpx.get(world["server"].url + page, follow_redirects=False).headers["location"] == "/login"
    # The buttons are the viewer's: the owner releases or takes down, the uploader disputes.
    owner_view, uploader_view = c["northlight"].get(page).text, c["clipshare"].get(page).text
    assert 'id="action-release"' in owner_view and 'id="action-takedown"' in owner_view and 'id="action-dispute"' not in owner_view
    assert 'id="action-dispute"' in uploader_view and 'id="action-release"' not in uploader_view
    assert 'id="takedown-link"' in owner_view and 'id="takedown-link"' not in uploader_view
    # Refusals: the claim again, with the one line and the API's status; nothing changed.
    for who, action, reason, status, line in (
        ("northlight", "dispute", "x", 403, "only the uploader's account may dispute a claim"),
        ("clipshare", "takedown", "", 403, "only the work's owner may takedown a claim"),
        ("clipshare", "dispute", "   ", 400, "a dispute must give a reason"),
        ("northlight", "uphold", "", 409, "a claim that is active cannot be upheld; it allows dispute, release, takedown"),
    ):  # fmt: skip
        r = c[who].post(f"{page}/{action}", data={"reason": reason}, follow_redirects=False)
        assert r.status_code == status and alert(r) == line.replace("'", "&#39;"), (who, action, r.status_code, alert(r))
        assert "Traceback" not in r.text and 'data-state="active"' in r.text
    assert c["clipshare"].post(f"{page}/explode", follow_redirects=False).status_code == 404
    assert c["admin"].get(f"/api/claims/{claim}").json()["history"][-1]["action"] == "create"
    assert c["northlight"].get("/claims?state=bogus").status_code == 400
    # The claim in review: the owner's buttons are the queue's, uphold or release.
    queued = c["northlight"].get(f"/claims/{world['queued']}").text
    assert 'data-state="in_review"' in queued and 'id="action-uphold"' in queued and 'id="action-release"' in queued
    # The catalogue and the work page show the work's reach; the work page its policy.
    total = sum(VIEWS.values())
    assert f'data-views="{total}"' in c["northlight"].get("/").text
    work_page = c["northlight"].get(f"/works/{work}").text
    assert f'<b id="reach-views">{total:,}</b>' in work_page and '<span class="pill" id="policy-source">work</span>' in work_page


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium")
def test_a_claim_disputed_upheld_appealed_and_taken_down_in_the_browser(world, browser, tmp_path):
    from selenium.webdriver.common.by import By

    d, srv, tokens, claim = browser, world["server"], world["tokens"], world["claim"]
    shots = str(tmp_path)

    def sign_in(name: str) -> None:
        """A fresh session: the other side's cookie goes first."""
        d.get(srv.url + "/login")
        d.delete_all_cookies()
        d.get(srv.url + "/login")
        d.find_element(By.ID, "token").send_keys(tokens[name])
        d.find_element(By.ID, "login-button").click()
        wait_for(d, lambda d: "/login" not in d.current_url and d.find_element(By.CSS_SELECTOR, ".who .acct").text == name,
                 f"{name} signed in")  # fmt: skip

    def state() -> str:
        return wait_for(d, lambda d: d.find_element(By.ID, "claim-state").get_attribute("data-state"), "the claim's state")

    def history() -> list[tuple[str, str, str, str]]:
        rows = d.find_elements(By.CSS_SELECTOR, "#claim-history tbody tr")
        return [(r.get_attribute("data-action"), r.get_attribute("data-to"), r.find_elements(By.TAG_NAME, "td")[1].text,
                 r.find_element(By.CSS_SELECTOR, "td.reason").text) for r in rows]  # fmt: skip

    def act(action: str, reason: str = "", then: str = "") -> None:
        box = d.find_element(By.ID, "claim-reason")
        box.clear()
        box.send_keys(reason)
        d.find_element(By.ID, f"action-{action}").click()
        if action in ("release", "takedown"):
            d.switch_to.alert.accept()
        wait_for(d, lambda d: d.find_element(By.ID, "claim-state").get_attribute("data-state") == then, f"the claim {then}")

    # The uploader's side: its claims, from the nav, then the claim with its evidence.
    sign_in("clipshare")
    d.find_element(By.LINK_TEXT, "Claims").click()
    row = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, f"#claim-list tr[data-claim-id='{claim}']"), "the claim's row")
    assert row.get_attribute("data-state") == "active" and "v-1001" in row.text and "48,210 views" in row.text
    row.find_element(By.CSS_SELECTOR, "a.claim-link").click()
    assert state() == "active"
    assert history() == [("create", "active", "reeltrace", "the match meets the policy")]
    wait_for(d, images_loaded, "the frame pairs")
    sizes = d.execute_script("return Array.from(document.querySelectorAll('.pair img')).map(i => i.naturalWidth)")
    assert len(sizes) >= 6 and all(w == 320 for w in sizes), sizes  # real frames of the upload and the work
    assert d.find_elements(By.CSS_SELECTOR, "#claim-evidence .timeline .seg")
    assert [e.text for e in d.find_elements(By.CSS_SELECTOR, "#claim-conditions td.met")] == ["met"] * 4
    assert not d.find_elements(By.ID, "takedown-link")  # the owner's until it is taken down
    assert [b.get_attribute("data-action") for b in d.find_elements(By.CSS_SELECTOR, "#claim-form button")] == ["dispute"]
    # A dispute must say why: refused in one line, the claim unchanged.
    d.find_element(By.ID, "action-dispute").click()
    assert wait_for(d, lambda d: d.find_element(By.ID, "claim-error").text, "the refusal") == "a dispute must give a reason"
    assert state() == "active"
    act("dispute", "My own footage, filmed at the harbour <b>in 2019</b>", then="disputed")
    assert not d.find_elements(By.ID, "claim-error")
    assert history()[-1] == ("dispute", "disputed", "clipshare", "My own footage, filmed at the harbour <b>in 2019</b>")
    assert "answers by" in d.find_element(By.ID, "claim-decide").text
    assert not d.find_elements(By.CSS_SELECTOR, "#claim-form")  # the owner's move

    # The owner's side: the claim disputed in its list and its review queue; upheld.
    sign_in("northlight")
    d.get(srv.url + "/claims")
    row = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, f"#claim-list tr[data-claim-id='{claim}']"), "the claim's row")
    assert row.get_attribute("data-state") == "disputed"
    tabs = {t.get_attribute("data-state"): t.text for t in d.find_elements(By.CSS_SELECTOR, "#claim-tabs a")}
    assert tabs["in_review"] == "Review queue 1" and tabs["disputed"] == "Disputed 1", tabs
    screenshot(d, "claims", shots)
    row.find_element(By.CSS_SELECTOR, "a.claim-link").click()
    assert state() == "disputed"
    assert d.find_element(By.ID, "takedown-link").text == "Takedown notice (draft)"
    act("uphold", "A frame-exact copy of our film", then="upheld")
    assert [h[:2] for h in history()] == [("create", "active"), ("dispute", "disputed"), ("uphold", "upheld")]

    # The uploader appeals, once.
    sign_in("clipshare")
    d.get(f"{srv.url}/claims/{claim}")
    assert state() == "upheld"
    act("appeal", "Fair use: a review of the film", then="appealed")
    assert history()[-1][:3] == ("appeal", "appealed", "clipshare")

    # The owner takes it down, after saying yes, and reads the notice.
    sign_in("northlight")
    d.get(f"{srv.url}/claims/{claim}")
    assert state() == "appealed"
    d.find_element(By.ID, "action-takedown").click()
    d.switch_to.alert.dismiss()  # no: nothing is sent
    assert state() == "appealed"
    act("takedown", "The appeal does not hold: the whole scene is copied", then="takedown")
    assert [(h[0], h[1], h[2]) for h in history()] == [
        ("create", "active", "reeltrace"), ("dispute", "disputed", "clipshare"), ("uphold", "upheld", "northlight"),
        ("appeal", "appealed", "clipshare"), ("takedown", "takedown", "northlight")]  # fmt: skip
    assert not d.find_elements(By.CSS_SELECTOR, "#claim-form")  # final
    screenshot(d, "claim", shots)
    d.get(d.find_element(By.ID, "takedown-link").get_attribute("href"))
    wait_for(d, lambda d: "Harbour Lights" in d.page_source, "the takedown notice")
    html = d.page_source
    assert "DRAFT" not in html and "Northlight Studios" in html and "v-1001" in html and "Fair use: a review of the film" in html
    screenshot(d, "takedown", shots)

    # The review queue: upheld from its row.
    d.get(srv.url + "/claims")
    d.find_element(By.CSS_SELECTOR, "#claim-tabs a[data-state='in_review']").click()
    row = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, f"#claim-list tr[data-claim-id='{world['queued']}']"),
                   "the queued claim")  # fmt: skip
    assert [b.get_attribute("data-action") for b in row.find_elements(By.CSS_SELECTOR, "button")] == ["uphold", "release"]
    row.find_element(By.CSS_SELECTOR, "button[data-action='uphold']").click()
    wait_for(d, lambda d: d.find_elements(By.ID, "no-claims"), "an empty queue")
    assert "state=in_review" in d.current_url
    assert world["c"]["northlight"].get(f"/api/claims/{world['queued']}").json()["state"] == "active"

    # The catalogue's hall shows the work's reach.
    d.get(srv.url + "/")
    card = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, f".exhibit[data-work-id='{world['work']}']"), "the card")
    reach = card.find_element(By.CSS_SELECTOR, ".reach")
    assert reach.get_attribute("data-views") == str(sum(VIEWS.values())) and "49,410 views" in reach.text
    assert "2 uploads" in reach.text
    assert "49,410 views in 2 uploads" in d.find_element(By.CSS_SELECTOR, "#hall-drama .hall-reach").text
    screenshot(d, "catalogue-reach", shots)

    # Once taken down, the uploader may read the notice too.
    sign_in("clipshare")
    d.get(f"{srv.url}/claims/{claim}")
    assert state() == "takedown" and d.find_elements(By.ID, "takedown-link")
