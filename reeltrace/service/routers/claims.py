"""``/api/claims``: claims made by upload-time checks, and the actions that move them
(``rights.claims``: who may take which, from which state).

An owner sees the claims on its works, a scanner the claims on the uploads it checked,
admins all; any other claim answers 404. An action of the other side answers 403, one
the claim's state does not allow 409. Every change is in the claim's ``history``.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from ...report.takedown import render_takedown
from ...rights.claims import ACTIONS, STATES
from ..auth import CurrentAccount
from ..state import ServiceDep

router = APIRouter(tags=["rights"])


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=2000, description="why (a dispute or an appeal must say)")


@router.get("/api/claims", summary="Claims the caller may see, newest first")
def list_claims(
    service: ServiceDep,
    acct: CurrentAccount,
    work_id: str | None = Query(None, max_length=64),
    state: str | None = Query(None, description=f"one of {', '.join(STATES)}"),
    upload_id: str | None = Query(None, max_length=200),
    scan_id: str | None = Query(None, max_length=64),
):
    if state is not None and state not in STATES:
        raise HTTPException(400, f"state must be one of {', '.join(STATES)}")
    service.rights.expire()
    claims = service.rights.visible_claims(acct, work_id, state, upload_id, scan_id)
    return {"claims": [service.rights.public(c, acct) for c in claims]}


@router.get("/api/claims/{claim_id}", summary="One claim, with the actions the caller may take and its history")
def show_claim(claim_id: str, service: ServiceDep, acct: CurrentAccount):
    service.rights.expire()
    return service.rights.public(service.rights.claim_for(acct, claim_id), acct, history=True)


@router.post("/api/claims/{claim_id}/{action}", summary=f"Act on a claim: {', '.join(ACTIONS)}")
def act_on_claim(claim_id: str, action: str, service: ServiceDep, acct: CurrentAccount, body: ActionBody | None = None):
    if action not in ACTIONS:
        raise HTTPException(404, f"no action {action!r}; choose from {', '.join(ACTIONS)}")
    service.rights.expire()
    claim = service.rights.act(acct, claim_id, action, body.reason if body else "")
    return service.rights.public(claim, acct, history=True)


@router.get("/api/claims/{claim_id}/takedown.html", response_class=HTMLResponse,
            summary="The takedown notice of a claim: HTML, printable to PDF")  # fmt: skip
def takedown_notice(claim_id: str, service: ServiceDep, acct: CurrentAccount):
    claim = service.rights.claim_for(acct, claim_id)
    side = service.rights.side(acct, claim)
    if side == "uploader" and claim.state != "takedown":
        raise HTTPException(403, "the takedown notice is the owner's until the claim is taken down")
    shown = service.rights.public(claim, acct, history=True)
    job = service.db.job(claim.scan_id)
    record = service.scan_record(job) if job is not None else None
    match = next((m for m in (record.matches if record else []) if m.work.work_id == claim.work_id), None)
    work = service.lib.work(claim.work_id)
    held_by = service.db.work_account(claim.work_id)  # the rights holder now (a work may have moved)
    holder = service.db.account(held_by) if held_by is not None else None
    html = render_takedown(shown, match, work, holder.display_owner if holder else (work.owner if work else ""))
    return HTMLResponse(html, headers={"Content-Disposition": f'inline; filename="reeltrace-takedown-{claim.id}.html"'})
