"""The web console in headless Chromium (selenium): log in, register a work, scan a video,
follow it to the match detail and the evidence report.

Skips when /usr/bin/chromium (Debian packages ``chromium`` and ``chromium-driver``) or
selenium is missing. Screenshots go to a temporary folder, or to
``$REELTRACE_SCREENSHOT_DIR`` (e.g. docs/screenshots) when set.
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from reeltrace.service.jobs import HOLD_ENV
from test_service import (  # helpers only: importing test functions would run them twice
    ADMIN_TOKEN,
    WAIT,
    Server,
    client,
    make_media,
    read_frames,
    synth_frames,
    upload,
    wait_job,
    write_video,
)

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    media = make_media(str(tmp_path_factory.mktemp("browser-media")))
    folder = os.path.dirname(media["work_a"])
    # A compilation reusing two works, so the timeline shows two colours.
    big = (480, 270)
    fit = lambda frames: [np.asarray(Image.fromarray(f).resize(big, Image.BILINEAR)) for f in frames]  # noqa: E731
    frames = fit(read_frames(media["work_a"], 3.0, 8.0)) + list(synth_frames(404, 2.5, "julia", big))
    frames += fit(read_frames(media["work_b"], 1.0, 5.0))
    media["compilation"] = write_video(os.path.join(folder, "weekly-compilation.mp4"), frames)
    hold = str(tmp_path_factory.mktemp("hold") / "hold")  # while it exists, a claimed job waits
    srv = Server(str(tmp_path_factory.mktemp("browser") / "library"), allow=[media["allowed"]],
                 env={HOLD_ENV: hold}).start()  # fmt: skip
    media["hold"] = hold
    yield srv, media
    srv.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service as ChromeService

    if not os.path.exists(DRIVER) and shutil.which("chromedriver") is None:
        pytest.skip("needs chromedriver (Debian package chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1320,900", "--hide-scrollbars",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        options.add_argument(flag)
    service = ChromeService(executable_path=DRIVER if os.path.exists(DRIVER) else shutil.which("chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def wait_for(driver, condition, what: str):
    deadline = time.monotonic() + WAIT
    while True:
        try:
            value = condition(driver)
        except Exception:  # element not there yet, page reloading
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; page: {driver.current_url}")
        time.sleep(0.2)


def images_loaded(driver) -> bool:
    return driver.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0);"
    )


def screenshot(driver, name: str, tmp_dir: str) -> str:
    """A full-page PNG (Chrome DevTools: the viewport is grown to the page's height)."""
    import base64

    folder = os.environ.get("REELTRACE_SCREENSHOT_DIR") or tmp_dir
    os.makedirs(folder, exist_ok=True)
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    height = int(min(max(size["height"], 600), 6000))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1320, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
    try:
        wait_for(driver, images_loaded, "images before the screenshot")
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path = os.path.join(folder, f"{name}.png")
    with open(path, "wb") as fh:
        fh.write(base64.b64decode(data["data"]))
    return path


def test_console_end_to_end(setup, browser, tmp_path):
    from selenium.webdriver.common.by import By

    srv, media = setup
    d = browser
    shots = str(tmp_path)

    # Log in with the admin token.
    d.get(srv.url + "/")
    wait_for(d, lambda d: d.find_element(By.ID, "token"), "the login page")
    assert "/login" in d.current_url
    d.find_element(By.ID, "token").send_keys(ADMIN_TOKEN)
    d.find_element(By.ID, "login-button").click()
    wait_for(d, lambda d: d.find_element(By.ID, "register-panel"), "the catalogue")
    cookie = d.get_cookie("reeltrace_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # Some works registered through the API, so the halls are not empty.
    api = client(srv, ADMIN_TOKEN)
    for name, role in (("Northlight Studios", "owner"), ("Granite Films", "owner")):
        assert api.post("/api/accounts", json={"name": name.split()[0].lower(), "role": role,
                                               "owner_name": name}).status_code == 201  # fmt: skip
    job = api.post("/api/works", data={"path": media["work_b"], "title": "Mountain Pass", "category": "documentary",
                                       "account": "granite"}).json()["job"]  # fmt: skip
    assert wait_job(api, f"/api/jobs/{job['id']}")["status"] == "done"
    job = upload(api, "/api/works", media["other"], title="Paper Garden", category="animation", account="granite").json()
    assert wait_job(api, f"/api/jobs/{job['job']['id']}")["status"] == "done"

    # Register a work through the console form.
    d.refresh()
    d.find_element(By.CSS_SELECTOR, "#register-panel summary").click()
    d.find_element(By.ID, "register-file").send_keys(media["work_a"])
    d.find_element(By.ID, "register-title").send_keys("Harbour Lights")
    d.find_element(By.CSS_SELECTOR, "#register-category option[value='drama']").click()
    d.find_element(By.CSS_SELECTOR, "#register-account option[value='northlight']").click()
    d.find_element(By.ID, "register-submit").click()
    card = wait_for(d, lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "#hall-drama .exhibit")
                                  if "Harbour Lights" in e.text], "the registered work in the drama hall")[0]  # fmt: skip
    work_id = card.get_attribute("data-work-id")
    assert "Northlight Studios" in card.text

    # Scan a video on the scans page.
    d.get(srv.url + "/scans")
    d.find_element(By.ID, "scan-files").send_keys(media["compilation"])
    d.find_element(By.ID, "scan-submit").click()
    row = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, ".scanrow[data-status='done']"), "the scan result")
    scan_id = row.get_attribute("data-scan-id")
    segs = row.find_elements(By.CSS_SELECTOR, ".timeline .seg")
    colours = {s.value_of_css_property("background-color") for s in segs}
    assert len(segs) >= 2 and len(colours) == 2, [s.get_attribute("title") for s in segs]
    assert "Harbour Lights" in row.text and "Mountain Pass" in row.text
    wait_for(d, images_loaded, "images")
    screenshot(d, "scan-results", shots)

    # Scan page, then the match detail with side-by-side frames.
    row.find_element(By.CSS_SELECTOR, "a.qname").click()
    link = wait_for(d, lambda d: [a for a in d.find_elements(By.CSS_SELECTOR, "a.match-link") if a.text == "Harbour Lights"],
                    "the scan page")[0]  # fmt: skip
    assert len(d.find_elements(By.CSS_SELECTOR, ".matchcard")) == 2
    screenshot(d, "scan-detail", shots)
    link = d.find_element(By.XPATH, "//a[@class='match-link' and text()='Harbour Lights']")
    link.click()
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, ".pair img"), "frame pairs")
    wait_for(d, images_loaded, "frame pairs to load")
    pairs = d.find_elements(By.CSS_SELECTOR, ".pair")
    assert len(pairs) >= 3
    sizes = d.execute_script("return Array.from(document.querySelectorAll('.pair img')).map(i => i.naturalWidth)")
    assert all(w == 320 for w in sizes), sizes  # real JPEG frames, not the placeholder
    assert "video" in d.find_element(By.CSS_SELECTOR, ".pill.modality").text
    screenshot(d, "match-detail", shots)

    # The evidence report: one self-contained page.
    href = d.find_element(By.ID, "evidence-link").get_attribute("href")
    d.get(href)
    wait_for(d, lambda d: "Evidence report" in d.title, "the evidence report")
    wait_for(d, images_loaded, "report images")
    html = d.page_source
    assert "weekly-compilation.mp4" in html and "Harbour Lights" in html and "Northlight Studios" in html
    assert "Mountain Pass" in html and "Granite Films" in html
    srcs = d.execute_script("return Array.from(document.images).map(i => i.src.slice(0, 23))")
    assert srcs and all(s == "data:image/jpeg;base64," for s in srcs)
    screenshot(d, "evidence-report", shots)

    # The per-work page: where it was found, exports.
    d.get(f"{srv.url}/works/{work_id}")
    wait_for(d, lambda d: d.find_element(By.ID, "work-videos"), "the work page")
    wait_for(d, images_loaded, "the poster")
    assert "weekly-compilation.mp4" in d.find_element(By.ID, "work-videos").text
    assert d.find_element(By.ID, "export-csv").get_attribute("href").endswith("format=csv")
    screenshot(d, "work-page", shots)

    # The catalogue, now showing how much of each work was found reused.
    d.get(srv.url + "/")
    wait_for(d, images_loaded, "posters")
    card = d.find_element(By.CSS_SELECTOR, f".exhibit[data-work-id='{work_id}']")
    assert "found in 1 video" in card.text
    # Halls with no work fold into one line.
    assert d.find_elements(By.ID, "hall-drama") and not d.find_elements(By.ID, "hall-variety")
    assert "variety show" in d.find_element(By.ID, "empty-halls").text
    screenshot(d, "catalogue", shots)

    # Search and filters.
    d.find_element(By.ID, "filter-q").send_keys("harbour")
    d.find_element(By.ID, "filter-submit").click()
    wait_for(d, lambda d: "q=harbour" in d.current_url, "the filtered catalogue")
    titles = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".exhibit .title")]
    assert titles == ["Harbour Lights"], titles
    d.get(srv.url + "/")
    d.find_element(By.CSS_SELECTOR, "#filter-owner option[value='Granite Films']").click()
    d.find_element(By.ID, "filter-submit").click()
    wait_for(d, lambda d: "owner=Granite" in d.current_url, "the owner filter")
    assert sorted(e.text for e in d.find_elements(By.CSS_SELECTOR, ".exhibit .title")) == ["Mountain Pass", "Paper Garden"]
    d.find_element(By.CSS_SELECTOR, "#filter-category option[value='variety']").click()
    d.find_element(By.ID, "filter-submit").click()
    wait_for(d, lambda d: d.find_elements(By.ID, "no-works"), "no work for these filters")

    # Edit a work on its page: a new title, and a transfer to another owner account.
    d.get(f"{srv.url}/works/{work_id}#edit")
    title = wait_for(d, lambda d: d.find_element(By.ID, "edit-title"), "the edit form")
    assert title.is_displayed()
    title.clear()
    title.send_keys("Harbour Lights (restored)")
    d.find_element(By.CSS_SELECTOR, "#edit-account option[value='granite']").click()
    d.find_element(By.ID, "edit-submit").click()
    wait_for(d, lambda d: d.find_element(By.ID, "work-title").text == "Harbour Lights (restored)", "the edited title")
    assert "Granite Films" in d.find_element(By.ID, "work-owner").text
    assert api.get(f"/api/works/{work_id}").json()["account"] == "granite"

    # Delete a work from its card, after saying yes.
    d.get(srv.url + "/")
    victim = [w for w in api.get("/api/works").json()["works"] if w["title"] == "Paper Garden"][0]["work_id"]
    d.find_element(By.CSS_SELECTOR, f"[data-delete-work='{victim}']").click()
    d.switch_to.alert.dismiss()  # no: nothing happens
    assert api.get(f"/api/works/{victim}").status_code == 200
    d.find_element(By.CSS_SELECTOR, f"[data-delete-work='{victim}']").click()
    d.switch_to.alert.accept()
    wait_for(d, lambda d: not d.find_elements(By.CSS_SELECTOR, f".exhibit[data-work-id='{victim}']"), "the card gone")
    assert api.get(f"/api/works/{victim}").status_code == 404

    # Accounts: create one (its token shown once, and working), give it a new token, revoke it.
    d.get(srv.url + "/accounts")
    wait_for(d, lambda d: d.find_element(By.ID, "account-list"), "the accounts page")
    assert {"northlight", "granite"} <= {r.get_attribute("data-account") for r in d.find_elements(By.CSS_SELECTOR, "#account-list tr[data-account]")}
    d.find_element(By.ID, "account-name").send_keys("harbourwatch")
    d.find_element(By.CSS_SELECTOR, "#account-role option[value='scanner']").click()
    d.find_element(By.ID, "account-submit").click()
    token = wait_for(d, lambda d: d.find_element(By.ID, "token-value").text, "the new token")
    assert client(srv, token).get("/api/me").json()["role"] == "scanner"
    screenshot(d, "accounts", shots)
    d.find_element(By.CSS_SELECTOR, "[data-rotate='harbourwatch']").click()
    d.switch_to.alert.accept()
    wait_for(d, lambda d: d.find_element(By.ID, "token-value").text not in ("", token), "the rotated token")
    rotated = d.find_element(By.ID, "token-value").text
    assert client(srv, token).get("/api/me").status_code == 401
    assert client(srv, rotated).get("/api/me").status_code == 200
    d.find_element(By.CSS_SELECTOR, "[data-revoke='harbourwatch']").click()
    d.switch_to.alert.accept()
    wait_for(d, lambda d: not d.find_elements(By.CSS_SELECTOR, "tr[data-account='harbourwatch']"), "the revoked row gone")
    assert client(srv, rotated).get("/api/me").status_code == 401

    # The API docs render from local assets (no CDN is reachable from a headless test).
    d.get(srv.url + "/docs")
    wait_for(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 10, "Swagger UI's operations")
    assert d.execute_script("return performance.getEntriesByType('resource').every(e => e.name.startsWith(location.origin))")
    assert d.find_elements(By.CSS_SELECTOR, ".auth-wrapper .authorize")  # the token can be given there
    screenshot(d, "api-docs", shots)
    d.get(srv.url + "/")

    # A running scan shows its percentage (held by the test hook until the hold file goes).
    open(media["hold"], "w").close()
    try:
        d.get(srv.url + "/scans")
        d.find_element(By.ID, "scan-files").send_keys(media["work_b"])
        d.find_element(By.ID, "scan-submit").click()
        # Read as text inside the wait: the progress list is redrawn as it polls.
        state = wait_for(d, lambda d: [t for e in d.find_elements(By.CSS_SELECTOR, "#scan-progress .status")
                                       if (t := e.get_attribute("textContent")).startswith("running ")], "a percentage")[0]  # fmt: skip
        assert state == "running 0%"  # shown in capitals (CSS)
    finally:
        os.unlink(media["hold"])
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, ".scanrow[data-status='done'] .timeline"), "the held scan done")

    # The login page, signed out.
    d.find_element(By.CSS_SELECTOR, ".who button").click()
    wait_for(d, lambda d: d.find_element(By.ID, "token"), "the login page after signing out")
    screenshot(d, "login", shots)
    assert scan_id
