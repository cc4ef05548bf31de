"""Policies: what a rights holder asks for when a work of theirs is found
(``rights.policy``): per work (``/api/works/{id}/policy``) and an owner account's default
for all its works (``/api/policy``).

A work's owner and admins read and set its policy; another owner's work answers 404, and
scanners 403. A work without its own policy follows its owner's default, else
``rights.policy.DEFAULT_POLICY`` (track every match); ``GET`` says which (``source``).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from ...rights.policy import ACTIONS, MODALITIES, Policy, PolicyError
from ..auth import AdminOrOwner
from ..db import Account
from ..state import ServiceDep

router = APIRouter(tags=["rights"])


class PolicyBody(BaseModel):
    """What ``PUT`` takes: the action and the conditions a match must meet (every one)."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(..., description=f"one of {', '.join(ACTIONS)}")
    min_seconds: float = Field(0.0, ge=0, le=1e6, description="seconds of the upload that show the work")
    min_query_share: float = Field(0.0, ge=0, le=1, description="those seconds over the upload's length")
    min_work_share: float = Field(0.0, ge=0, le=1, description="seconds of the work shown over its length")
    modality: str = Field("any", description=f"what must show the reuse: one of {', '.join(MODALITIES)}")
    review_below: float | None = Field(None, ge=0, le=1, description="a score under this goes to the owner's review queue")

    def policy(self) -> Policy:
        try:
            return Policy(**self.model_dump())
        except PolicyError as err:
            raise HTTPException(422, str(err)) from None


def _answer(policy: Policy, source: str) -> dict:
    return {"policy": policy.to_dict(), "source": source}


@router.get("/api/works/{work_id}/policy", summary="The policy that applies to a work, and where it comes from")
def get_work_policy(work_id: str, service: ServiceDep, acct: AdminOrOwner):
    service.work_for(acct, work_id)
    return _answer(*service.rights.policy_for(work_id))


@router.put("/api/works/{work_id}/policy", summary="Set a work's own policy")
def put_work_policy(work_id: str, body: PolicyBody, service: ServiceDep, acct: AdminOrOwner):
    service.work_for(acct, work_id)
    service.db.rights.set_policy(f"work:{work_id}", body.policy(), acct.name)
    return _answer(*service.rights.policy_for(work_id))


@router.delete("/api/works/{work_id}/policy", summary="Remove a work's own policy (its owner's default applies)")
def delete_work_policy(work_id: str, service: ServiceDep, acct: AdminOrOwner):
    service.work_for(acct, work_id)
    service.db.rights.set_policy(f"work:{work_id}", None, acct.name)
    return _answer(*service.rights.policy_for(work_id))


def _holder(service, acct: Account, account: str | None) -> Account:
    """The owner account whose default is read or set: the caller's own, or for an admin
    the owner account named ``account``."""
    if account is None or account == acct.name:
        if acct.role != "owner":
            raise HTTPException(400, "an admin names the owner account: ?account=<name>")
        return acct
    target = service.db.account_by_name(account) if acct.role == "admin" else None
    if target is None or target.role != "owner":
        raise HTTPException(404, f"no owner account {account!r}")
    return target


@router.get("/api/policy", summary="An owner account's default policy for its works")
def get_default_policy(service: ServiceDep, acct: AdminOrOwner, account: str | None = Query(None, max_length=200)):
    holder = _holder(service, acct, account)
    policy = service.db.rights.policy(f"account:{holder.id}")
    return {"account": holder.name, **(_answer(policy, "account") if policy else {"policy": None, "source": "default"})}


@router.put("/api/policy", summary="Set an owner account's default policy for its works")
def put_default_policy(body: PolicyBody, service: ServiceDep, acct: AdminOrOwner,
                       account: str | None = Query(None, max_length=200)):  # fmt: skip
    holder = _holder(service, acct, account)
    service.db.rights.set_policy(f"account:{holder.id}", body.policy(), acct.name)
    return {"account": holder.name, **_answer(body.policy(), "account")}


@router.delete("/api/policy", summary="Remove an owner account's default policy")
def delete_default_policy(service: ServiceDep, acct: AdminOrOwner, account: str | None = Query(None, max_length=200)):
    holder = _holder(service, acct, account)
    service.db.rights.set_policy(f"account:{holder.id}", None, acct.name)
    return {"account": holder.name, "policy": None, "source": "default"}
