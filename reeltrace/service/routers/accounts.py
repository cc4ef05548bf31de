"""``/api/me`` and ``/api/accounts``: who the caller is, and the accounts an admin manages.

A new account's token is in the answer to its creation and nowhere else: only its hash is
stored.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from ..auth import AdminAccount, CurrentAccount
from ..db import ROLES, ServiceError
from ..state import ServiceDep

router = APIRouter(tags=["accounts"])


@router.get("/api/me", summary="The account of the token")
def me(acct: CurrentAccount):
    return acct.to_dict()


@router.get("/api/accounts", summary="List accounts (admin)")
def list_accounts(service: ServiceDep, acct: AdminAccount):
    return {"accounts": [a.to_dict() for a in service.db.accounts()]}


@router.post("/api/accounts", status_code=201,
             summary="Create an account (admin); its token is in the answer, and only there")  # fmt: skip
def create_account(body: dict, service: ServiceDep, acct: AdminAccount):
    name = str(body.get("name", "")).strip()
    new_role = str(body.get("role", ""))
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@ " for c in name):
        raise HTTPException(400, "name must be 1-64 letters, digits, spaces or . _ - @")
    if new_role not in ROLES:
        raise HTTPException(400, f"role must be one of {', '.join(ROLES)}")
    try:
        created, token = service.db.create_account(name, new_role, str(body.get("owner_name", "")).strip()[:200])
    except ServiceError as err:
        raise HTTPException(409, str(err)) from None
    return {"account": created.to_dict(), "token": token}


@router.post("/api/accounts/{name}/token", summary="Give an account a new token (admin); the old one stops working")
def rotate_token(name: str, service: ServiceDep, acct: AdminAccount):
    target = service.db.account_by_name(name)
    if target is None:
        raise HTTPException(404, f"no account {name!r}")
    return {"account": target.to_dict(), "token": service.db.set_token(target.id)}


@router.post("/api/me/token", summary="Give your own account a new token; the old one stops working")
def rotate_own_token(service: ServiceDep, acct: CurrentAccount):
    return {"account": acct.to_dict(), "token": service.db.set_token(acct.id)}


@router.delete("/api/accounts/{name}", summary="Delete an account (admin); its running monitors stop")
def delete_account(name: str, service: ServiceDep, acct: AdminAccount):
    target = service.db.account_by_name(name)
    if target is None:
        raise HTTPException(404, f"no account {name!r}")
    if target.id == acct.id:
        raise HTTPException(400, "you cannot delete your own account")
    service.db.delete_account(target.id)
    # Its monitors stop (a revoked platform's watches must not go on using the server); like
    # its scans, they stay readable by admins.
    for monitor in service.db.monitors(account_id=target.id, state="running"):
        service.monitors.stop(monitor.id)
    return {"deleted": name}
