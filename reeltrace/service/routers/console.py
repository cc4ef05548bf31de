"""The web console: server-rendered pages over the same state and rules as the API.

Signing in sets the HttpOnly, SameSite=Strict cookie that ``auth.current`` reads; every
other page needs it (a missing one redirects to ``/login``). Pages are not part of the
OpenAPI schema.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import RedirectResponse

from ...records import CATEGORIES
from ...report.evidence import pair_times, segment_speed, work_colour
from ...report.formats import speed_text
from ..airtime import HOURS, epoch, iso, timeline
from ..auth import COOKIE, CurrentAccount
from ..db import MONITOR_PREFIX, ROLES
from ..pages import Pages, get_pages
from ..state import FoundMatch, Service, ServiceDep
from ..usage import work_usage
from .scans import evidence_report

router = APIRouter(include_in_schema=False)

PagesDep = Annotated[Pages, Depends(get_pages)]
RECENT_EVENTS = 30  # events listed on a monitor's page (its script adds those that come)


@router.get("/login")
def login_page(pages: PagesDep, error: str | None = None):
    return pages.render("login.html", None, error=error)


@router.post("/login")
def login(service: ServiceDep, pages: PagesDep, token: str = Form("")):
    acct = service.db.account_by_token(token.strip())
    if acct is None:
        return pages.render("login.html", None, status_code=401, error="Unknown token.")
    resp = RedirectResponse("/scans" if acct.role == "scanner" else "/", status_code=303)
    resp.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", secure=service.config.secure_cookie,
                    path="/", max_age=30 * 24 * 3600)  # fmt: skip
    return resp


@router.post("/logout")
def logout():
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return resp


@router.get("/")
def catalogue(service: ServiceDep, pages: PagesDep, acct: CurrentAccount, q: str = "", owner: str = "",
              category: str = ""):  # fmt: skip
    """The halls of works, one per category; ``q`` searches titles, ``owner`` and
    ``category`` filter. Halls with no work to show fold into one line. Each work and hall
    shows its reach: what upload-time checks found of it, with the uploads' views."""
    if acct.role == "scanner":
        return RedirectResponse("/scans", status_code=303)
    works = service.visible_works(acct)
    owners = sorted({w.owner for w in works if w.owner}, key=str.casefold)
    shown = [w for w in works if (not q or q.casefold() in w.title.casefold()) and (not owner or w.owner == owner)
             and (not category or w.category == category)]  # fmt: skip
    by_work: dict[str, list[dict]] = {}
    for r in service.visible_matches(acct):
        by_work.setdefault(r["work_id"], []).append(r)
    reach = service.rights.reach([w.work_id for w in shown])
    halls, empty = [], []
    for cat, label in CATEGORIES.items():
        items = [(w, work_usage(by_work.get(w.work_id, []), w.duration), reach[w.work_id]) for w in shown if w.category == cat]
        (halls if items else empty).append({"category": cat, "label": label, "works": items,
                                            **{k: sum(r[k] for _, _, r in items) for k in ("views", "uploads")}})  # fmt: skip
    return pages.render("catalogue.html", acct, halls=halls, empty_halls=empty, total=len(works), shown=len(shown),
                        owners=owners, owner_accounts=service.owner_accounts(acct), filters={"q": q, "owner": owner, "category": category},
                        allowed=bool(service.config.allowed_paths), nav="catalogue")  # fmt: skip


@router.get("/accounts")
def accounts_page(service: ServiceDep, pages: PagesDep, acct: CurrentAccount):
    """The admin's accounts: create, rotate a token, revoke (through ``/api/accounts``)."""
    if acct.role != "admin":
        raise HTTPException(403, "the accounts page is for admins")
    held = Counter(service.db.work_accounts().values())
    return pages.render("accounts.html", acct, accounts=service.db.accounts(), works_held=held, roles=ROLES,
                        nav="accounts")  # fmt: skip


@router.get("/works/{work_id}")
def work_page(work_id: str, service: ServiceDep, pages: PagesDep, acct: CurrentAccount):
    work = service.work_for(acct, work_id)
    rows = service.visible_matches(acct, work_id=work_id)
    videos: dict[str, dict] = {}
    for r in rows:
        v = videos.setdefault(r["scan_id"], {"scan_id": r["scan_id"], "query": r["query"], "segments": [],
                                             "first_seen": r["found_at"], "last_seen": r["found_at"]})  # fmt: skip
        v["segments"].append(r)
        v["first_seen"] = min(v["first_seen"], r["found_at"])
        v["last_seen"] = max(v["last_seen"], r["found_at"])
    for v in videos.values():
        v["live"] = v["scan_id"].startswith(MONITOR_PREFIX)  # a monitor's reuses: no frames are kept
        v["segments"].sort(key=lambda r: r["query_start"])
        v["seconds"] = sum(r["query_end"] - r["query_start"] for r in v["segments"])
        v["best"] = max(r["score"] for r in v["segments"])
    holder = service.db.work_account(work_id)
    policy, policy_source = service.rights.policy_for(work_id)
    claims = Counter(c.state for c in service.rights.visible_claims(acct, work_id=work_id))
    return pages.render("work.html", acct, work=work, usage=work_usage(rows, work.duration),
                        holder=service.db.account(holder) if holder is not None else None,
                        owner_accounts=service.owner_accounts(acct),
                        videos=sorted(videos.values(), key=lambda v: v["last_seen"], reverse=True),
                        reach=service.rights.reach([work_id])[work_id], policy=policy, policy_source=policy_source,
                        claims=claims, nav="catalogue")  # fmt: skip


@router.get("/scans")
def scans_page(service: ServiceDep, pages: PagesDep, acct: CurrentAccount):
    if acct.role == "owner":
        return RedirectResponse("/", status_code=303)
    jobs = service.db.jobs(kind="scan", account_id=None if acct.role == "admin" else acct.id, limit=50)
    return pages.render("scans.html", acct, scans=jobs, allowed=bool(service.config.allowed_paths), nav="scans")


@router.get("/scans/{scan_id}")
def scan_page(scan_id: str, service: ServiceDep, pages: PagesDep, acct: CurrentAccount):
    return pages.render("scan.html", acct, scan=service.scan_for(acct, scan_id), nav="scans")


@router.get("/scans/{scan_id}/matches/{work_id}")
def match_page(scan_id: str, work_id: str, service: ServiceDep, pages: PagesDep, acct: CurrentAccount):
    found = service.match_for(acct, scan_id, work_id)
    job, work = found.job, service.lib.work(work_id)
    can_scan = acct.role == "admin" or job.account_id == acct.id
    return pages.render("match.html", acct, scan=job, match=found.shown, work=work, segments=match_segments(service, found),
                        work_file=bool(work and os.path.isfile(work.source_path)), colour=work_colour(found.index),
                        can_scan=can_scan, nav="scans" if can_scan else "catalogue")  # fmt: skip


def match_segments(service: Service, found: FoundMatch) -> list[dict]:
    """A match's segments as ``segments.html`` shows them: as the API shows them, with the
    times of their frame pairs and their speed (the match page's and the claim page's)."""
    record = service.match_record(found)
    return [{**shown, "pairs": pair_times(seg), "speed": speed_text(segment_speed(seg))}
            for shown, seg in zip(found.shown["segments"], record.segments, strict=True)]  # fmt: skip


@router.get("/scans/{scan_id}/report.html")
def report_page(scan_id: str, service: ServiceDep, acct: CurrentAccount):
    if acct.role not in ("admin", "scanner"):
        raise HTTPException(403, "evidence reports are for the scan's account")
    return evidence_report(service, acct, scan_id)


@router.get("/monitors")
def monitors_page(service: ServiceDep, pages: PagesDep, acct: CurrentAccount):
    """The monitors of the caller (admin: all), and a form to start one."""
    if acct.role == "owner":
        return RedirectResponse("/", status_code=303)
    monitors = service.db.monitors(account_id=None if acct.role == "admin" else acct.id)
    names = {a.id: a.name for a in service.db.accounts()} if acct.role == "admin" else {}
    return pages.render("monitors.html", acct, monitors=monitors, account_names=names,
                        allowed=bool(service.config.allowed_paths), nav="monitors")  # fmt: skip


@router.get("/monitors/{monitor_id}")
def monitor_page(monitor_id: str, service: ServiceDep, pages: PagesDep, acct: CurrentAccount):
    """One monitor: on air now and the timeline of the last hours, as rendered; the page's
    script follows the event stream from the last event shown."""
    if acct.role == "owner":
        raise HTTPException(403, "monitors are for the admin and scanners")
    monitor = service.monitor_for(acct, monitor_id)
    now = time.time()
    since = max(epoch(monitor.created_at), now - HOURS * 3600)
    # Read in this order, so that every event is either on the page or in the stream after
    # it: counts, then events (any stored meanwhile is among them: it is in the axis' hours),
    # then the reuses on air (the stream's events after the page's update them in place).
    counts = service.db.monitor_counts(monitor_id)
    events = service.db.monitor_events(monitor_id, limit=service.config.monitors.events_kept, since=iso(since))
    on_air = service.monitors.on_air(monitor_id)
    after = max([counts["last_seq"]] + [e["seq"] for e in events[-1:]])
    return pages.render("monitor.html", acct, monitor=monitor, on_air=on_air, counts=counts, after=after,
                        timeline=timeline(events, {e["reuse"] for e in on_air}, since, now), hours=HOURS,
                        recent=events[-RECENT_EVENTS:][::-1], created=epoch(monitor.created_at), nav="monitors")  # fmt: skip
