"""``/api/webhooks``: URLs that receive the events of the claims an account may see,
signed with a shared secret (``rights``: the delivery and its signature).

Each account manages its own webhooks (admins see all); the secret is shown once, when
the webhook is made. A URL must be http(s) on a public host, unless the admin allows its
network (``--allow-source-network``), as monitor sources.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..auth import CurrentAccount
from ..files import FileRejected
from ..sources import check_host, url_host
from ..state import ServiceDep

router = APIRouter(tags=["rights"])

MAX_PER_ACCOUNT = 10


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., min_length=8, max_length=2000, description="an http or https URL")
    secret: str | None = Field(None, min_length=16, max_length=200, description="the shared secret (default: a new random one)")


def _public(hook: dict, secret: bool = False) -> dict:
    out = {k: hook[k] for k in ("id", "url", "created_at")}
    if secret:
        out["secret"] = hook["secret"]
    return out


@router.post("/api/webhooks", status_code=201, summary="Register a URL that receives claim events")
def add_webhook(body: NewWebhook, service: ServiceDep, acct: CurrentAccount):
    host = url_host(body.url.strip(), ("http", "https")) if body.url.isprintable() and " " not in body.url else None
    if host is None:
        raise HTTPException(400, "url must be an http or https URL with a host")
    try:
        check_host(host, service.config.monitors.source_networks, "webhook")
    except FileRejected as err:
        raise HTTPException(err.status, err.message) from None
    if len(service.db.rights.webhooks([acct.id])) >= MAX_PER_ACCOUNT:
        raise HTTPException(429, f"an account may have at most {MAX_PER_ACCOUNT} webhooks")
    hook = service.db.rights.add_webhook(acct.id, body.url.strip(), body.secret or secrets.token_urlsafe(32))
    return JSONResponse(_public(hook, secret=True), status_code=201, headers={"Location": f"/api/webhooks/{hook['id']}"})


@router.get("/api/webhooks", summary="The caller's webhooks (admin: all)")
def list_webhooks(service: ServiceDep, acct: CurrentAccount):
    hooks = service.db.rights.webhooks(None if acct.role == "admin" else [acct.id])
    return {"webhooks": [_public(h) for h in hooks]}


@router.delete("/api/webhooks/{hook_id}", status_code=204, summary="Remove a webhook")
def delete_webhook(hook_id: str, service: ServiceDep, acct: CurrentAccount):
    hook = service.db.rights.webhook(hook_id)
    if hook is None or (acct.role != "admin" and hook["account_id"] != acct.id):
        raise HTTPException(404, f"no webhook {hook_id!r}")
    service.db.rights.delete_webhook(hook_id)
