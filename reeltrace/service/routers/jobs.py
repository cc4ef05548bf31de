"""``/api/jobs``: register and scan jobs with their status, attempts and result; each
account sees its own (admins everyone's)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from ..auth import CurrentAccount
from ..state import ServiceDep

router = APIRouter(tags=["jobs"])


@router.get("/api/jobs", summary="Your jobs (admin: everyone's)")
def list_jobs(service: ServiceDep, acct: CurrentAccount):
    jobs = service.db.jobs(account_id=None if acct.role == "admin" else acct.id)
    return {"jobs": [j.to_dict() for j in jobs]}


@router.get("/api/jobs/{job_id}", summary="One job: status, attempts and result")
def show_job(job_id: str, service: ServiceDep, acct: CurrentAccount):
    job = service.db.job(job_id)
    if job is None or (acct.role != "admin" and job.account_id != acct.id):
        raise HTTPException(404, f"no job {job_id!r}")
    out = job.to_dict()
    out["progress"] = service.workers.progress(job)
    out["result"] = job.result
    return out
