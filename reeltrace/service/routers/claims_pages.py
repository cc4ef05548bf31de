"""The console's claims: the claims an account may see (an owner those on its works, a
scanner those on the uploads it checked, admins all), with the owner's review queue, and
one claim with its evidence, the policy that made it, the upload, its history and a button
for each action the viewer may take (``rights.claims.allowed_actions``).

Actions are form posts to ``/claims/{id}/{action}``, authenticated by the console's
HttpOnly SameSite=Strict cookie as the pages are (the request guard refuses a post without
a valid one before reading its body; another site's form cannot send it). They go through
``Rights.act``, as the API's do: the same rules, history and webhooks. A refused action
shows the claim again with the refusal's one line, answered with its status.
"""

from __future__ import annotations

import os
from collections import Counter
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import RedirectResponse

from ...rights.claims import ACTIONS, AWAITING_OWNER, NEEDS_REASON, STATES
from ...rights.policy import Policy, Reuse
from ..auth import CurrentAccount
from ..db import Account
from ..pages import Pages
from ..rightsdb import Claim
from ..state import Service, ServiceDep
from .console import PagesDep, match_segments

router = APIRouter(include_in_schema=False)

QUEUE = "in_review"
"""The state of the owner's review queue: matches its policy sends to a person first."""
CONFIRM = {
    "release": "Release this claim? Its action stops applying to the upload; this cannot be undone.",
    "takedown": "Ask for a takedown? The claim becomes final and the uploader may read the notice.",
}
"""Actions that end a claim for good: the page asks before it sends them."""


@router.get("/claims")
def claims_page(service: ServiceDep, pages: PagesDep, acct: CurrentAccount, state: str = "", work: str = "",
                upload: str = ""):  # fmt: skip
    """The claims ``acct`` may see, newest first; ``state``, ``work`` and ``upload`` (the
    platform's upload id) filter. ``state=in_review`` is the review queue, where an owner
    upholds or releases each claim from its row."""
    if state and state not in STATES:
        raise HTTPException(400, f"state must be one of {', '.join(STATES)}")
    upload = upload.strip()[:200]
    service.rights.expire()
    every = service.rights.visible_claims(acct)
    shown = service.rights.visible_claims(acct, work or None, state or None, upload or None)
    titles = {c.work_id: "" for c in every}
    for work_id in titles:
        found = service.lib.work(work_id)
        titles[work_id] = found.title if found else work_id
    if work and work not in titles:
        titles[work] = work  # a work without claims (yet): its id, never another account's title
    counts = Counter(c.state for c in every)
    kept = {"work": work, "upload": upload}

    def url(**changes) -> str:
        query = {k: v for k, v in {**kept, **changes}.items() if v}
        return "/claims" + ("?" + urlencode(query) if query else "")

    # The queue first, for the owners who work through it; then the states claims are in.
    shown_states = [s for s in (QUEUE, *STATES) if counts[s] or s == state or (s == QUEUE and acct.role != "scanner")]
    tabs = [{"state": "", "label": "All", "count": len(every), "url": url()}]
    tabs += [{"state": s, "label": "Review queue" if s == QUEUE else s.capitalize(), "count": counts[s],
              "url": url(state=s)} for s in dict.fromkeys(shown_states)]  # fmt: skip
    return pages.render("claims.html", acct, claims=[service.rights.public(c, acct) for c in shown], tabs=tabs,
                        states=STATES, works=sorted(titles.items(), key=lambda t: t[1].casefold()),
                        filters={"state": state, **kept}, queue=state == QUEUE, total=len(every), confirm=CONFIRM,
                        nav="claims")  # fmt: skip


@router.get("/claims/{claim_id}")
def claim_page(claim_id: str, service: ServiceDep, pages: PagesDep, acct: CurrentAccount):
    """One claim; 404 for a claim ``acct`` may not see, as the API answers."""
    service.rights.expire()
    return render_claim(service, pages, acct, service.rights.claim_for(acct, claim_id))


@router.post("/claims/{claim_id}/{action}")
def claim_action(claim_id: str, action: str, service: ServiceDep, pages: PagesDep, acct: CurrentAccount,
                 reason: str = Form(""), then: str = Form("")):  # fmt: skip
    """Take ``action``; back to the claim (``then=queue``: to the review queue), or the
    claim with the refusal."""
    if action not in ACTIONS:
        raise HTTPException(404, f"no action {action!r}; choose from {', '.join(ACTIONS)}")
    service.rights.expire()
    try:
        claim = service.rights.act(acct, claim_id, action, reason)
    except HTTPException as err:
        if err.status_code == 404:
            raise
        claim = service.rights.claim_for(acct, claim_id)
        return render_claim(service, pages, acct, claim, error=str(err.detail), status_code=err.status_code, reason=reason)
    return RedirectResponse(f"/claims?state={QUEUE}" if then == "queue" else f"/claims/{claim.id}", status_code=303)


def render_claim(service: Service, pages: Pages, acct: Account, claim: Claim, error: str | None = None,
                 status_code: int = 200, reason: str = ""):  # fmt: skip
    shown = service.rights.public(claim, acct, history=True)
    side = service.rights.side(acct, claim)
    try:
        found = service.match_for(acct, claim.scan_id, claim.work_id)
    except HTTPException:
        found = None  # the work was deleted since (its scan stays the uploader's)
    evidence = None
    if found is not None:
        work = service.lib.work(claim.work_id)
        evidence = {"scan": found.job, "match": found.shown, "segments": match_segments(service, found),
                    "work_file": bool(work and os.path.isfile(work.source_path)),
                    # The timeline shows this claim's work only: the upload's other matches
                    # are other owners' business.
                    "result": {**found.job.result, "matches": [found.shown]}}  # fmt: skip
    job = service.db.job(claim.scan_id)
    return pages.render("claim.html", acct, status_code=status_code, claim=shown, side=side, evidence=evidence,
                        upload_name=job.name if job else "", conditions=conditions(claim.policy, claim.reuse),
                        review=claim.policy.needs_review(claim.reuse), awaiting_owner=claim.state in AWAITING_OWNER,
                        needs_reason=NEEDS_REASON, confirm=CONFIRM, error=error, reason=reason,
                        takedown=side != "uploader" or claim.state == "takedown", nav="claims")  # fmt: skip


def conditions(policy: Policy, reuse: Reuse) -> list[dict]:
    """Each condition of the policy that made a claim beside what the check measured, and
    whether it held: what the two sides argue about."""
    rows = [
        ("min_seconds", "seconds of the upload", f"at least {policy.min_seconds:g} s", f"{reuse.seconds:.1f} s"),
        ("min_query_share", "share of the upload", f"at least {100 * policy.min_query_share:g}%",
         f"{100 * reuse.query_share:.1f}%"),
        ("min_work_share", "share of the work", f"at least {100 * policy.min_work_share:g}%",
         f"{100 * reuse.work_share:.1f}% ({reuse.work_seconds:.1f} s)"),
        ("modality", "shown by", policy.modality, ", ".join(reuse.modalities)),
    ]  # fmt: skip
    # A policy with only one condition set is met exactly when that condition holds.
    return [{"name": name, "wanted": wanted, "measured": measured,
             "met": Policy(**{field: getattr(policy, field)}).met_by(reuse)} for field, name, wanted, measured in rows]  # fmt: skip
