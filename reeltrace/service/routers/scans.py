"""``/api/scans``: submitting a video (or audio file) to scan, a background job; its status,
its result in the JSON shape of ``reeltrace scan --format json``, and its evidence report.

Admins see every scan, a scanner its own; another scanner's answer 404.
"""

from __future__ import annotations

from fastapi import APIRouter, File, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from ...report.evidence import render_report
from ..auth import AdminOrScanner
from ..db import Account, Job
from ..state import ServerPath, Service, ServiceDep

router = APIRouter(tags=["scans"])


def scan_public(job: Job, with_result: bool = True) -> dict:
    """A scan job as the API shows it."""
    out = job.to_dict()
    out["query"] = job.name
    out["source"] = "upload" if job.params.get("uploaded") else "path"
    if with_result:
        out["result"] = job.result
    return out


def evidence_report(service: Service, acct: Account, scan_id: str) -> HTMLResponse:
    """The evidence report of a finished scan (409 while it is not)."""
    job = service.scan_for(acct, scan_id)
    if job.status in ("queued", "running"):
        raise HTTPException(409, f"scan {scan_id} is {job.status}")
    html = render_report(
        [service.scan_record(job)],
        library=service.folder,
        scanned_at=job.finished_at,
        query_files=[job.params["path"]],
        query_names=[job.name],
        requested_by=(service.db.account(job.account_id) or acct).name,
        title=f"Evidence report · scan {job.id}",
    )
    return HTMLResponse(html, headers={"Content-Disposition": f'inline; filename="reeltrace-{job.id}.html"'})


@router.get("/api/scans", summary="List scans (admin: all; scanner: its own)")
def list_scans(service: ServiceDep, acct: AdminOrScanner):
    jobs = service.db.jobs(kind="scan", account_id=None if acct.role == "admin" else acct.id)
    return {"scans": [scan_public(j, with_result=False) for j in jobs]}


@router.post("/api/scans", status_code=202,
             summary="Submit a video to scan, uploaded or by allowed server path (a background job)")  # fmt: skip
def submit_scan(
    service: ServiceDep,
    acct: AdminOrScanner,
    file: UploadFile | None = File(None, description="the video to scan"),
    path: ServerPath = None,
):
    stored, name, uploaded = service.take_input(file, path, service.queries_root)
    job = service.db.add_job("scan", acct.id, name, {"path": stored, "uploaded": uploaded})
    service.workers.notify()
    return JSONResponse({"scan": scan_public(job)}, status_code=202, headers={"Location": f"/api/scans/{job.id}"})


@router.get("/api/scans/{scan_id}", summary="Status of a scan, and its result once done")
def show_scan(scan_id: str, service: ServiceDep, acct: AdminOrScanner):
    return scan_public(service.scan_for(acct, scan_id))


@router.get("/api/scans/{scan_id}/result", summary="The result in the JSON shape of `reeltrace scan --format json`")
def scan_result(scan_id: str, service: ServiceDep, acct: AdminOrScanner):
    job = service.scan_for(acct, scan_id)
    if job.status in ("queued", "running"):
        raise HTTPException(409, f"scan {scan_id} is {job.status}; poll /api/scans/{scan_id}")
    result = dict(job.result or {"query": job.name, "duration": 0.0, "error": job.error, "matches": []})
    result.pop("elapsed", None)
    return {"results": [result]}


@router.get("/api/scans/{scan_id}/report.html", response_class=HTMLResponse,
            summary="Evidence report: one self-contained HTML file")  # fmt: skip
def scan_report(scan_id: str, service: ServiceDep, acct: AdminOrScanner):
    return evidence_report(service, acct, scan_id)
