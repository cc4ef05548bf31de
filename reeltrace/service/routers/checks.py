"""``POST /api/check``: a platform asks, at upload time, what to do with an upload. The
upload is scanned at once (``rights.Rights.check``: its own threads, not the job queue),
each work it reuses is measured against that work's policy, the matches that meet it
become claims, and the answer is the strictest action they ask for (``block`` >
``monetize`` > ``track``; ``allow`` without one), with the claims and the scan's result.

The scan is kept as a scan of the calling account (``/api/scans/{scan_id}``: its evidence
report and frame pairs), with the upload's metadata, which the works' reach adds up.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, File, Form, HTTPException, UploadFile

from ..auth import AdminOrScanner
from ..rightsdb import Upload
from ..state import ServerPath, ServiceDep
from ..rights import parse_time

router = APIRouter(tags=["rights"])

METADATA = ("platform", "upload_id", "uploader", "url", "views", "published_at")


def upload_metadata(fields: dict) -> Upload:
    """The check's metadata, each field checked; 400 with the field's name otherwise."""
    out = {}
    for key in ("platform", "upload_id", "uploader", "url"):
        value = fields.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > (2000 if key == "url" else 200) or not value.isprintable():
            raise HTTPException(400, f"metadata {key} must be printable text of at most {2000 if key == 'url' else 200} characters")
        out[key] = value.strip()
    if out.get("url") and not out["url"].lower().startswith(("http://", "https://")):
        raise HTTPException(400, "metadata url must be an http or https URL")
    views = fields.get("views")
    if views is not None:
        try:
            views = int(views)
        except (TypeError, ValueError):
            views = -1
        if isinstance(fields.get("views"), bool) or not 0 <= views < 10**15:
            raise HTTPException(400, "metadata views must be a whole number, 0 or more")
        out["views"] = views
    published = fields.get("published_at")
    if published:
        try:
            out["published_at"] = parse_time(str(published))
        except ValueError:
            raise HTTPException(400, "metadata published_at must be an ISO 8601 time, e.g. 2026-12-06T10:00:00Z") from None
    return Upload(**out)


@router.post("/api/check", summary="Upload-time check: scan an upload now and answer allow, track, monetize or block")
def check_upload(
    service: ServiceDep,
    acct: AdminOrScanner,
    file: UploadFile | None = File(None, description="the upload"),
    path: ServerPath = None,
    metadata: str | None = Form(None, max_length=8000, description="JSON object of the fields below (either way)"),
    platform: str | None = Form(None, max_length=200),
    upload_id: str | None = Form(None, max_length=200),
    uploader: str | None = Form(None, max_length=200),
    url: str | None = Form(None, max_length=2000),
    views: str | None = Form(None, max_length=20),
    published_at: str | None = Form(None, max_length=100),
):
    fields = {"platform": platform, "upload_id": upload_id, "uploader": uploader, "url": url, "views": views,
              "published_at": published_at}  # fmt: skip
    if metadata:
        try:
            given = json.loads(metadata)
        except ValueError:
            given = None
        if not isinstance(given, dict) or set(given) - set(METADATA):
            raise HTTPException(400, f"metadata must be a JSON object with only {', '.join(METADATA)}")
        fields.update({k: v for k, v in given.items() if v is not None})
    upload = upload_metadata(fields)
    stored, name, uploaded = service.take_input(file, path, service.queries_root)
    return service.rights.check(acct, stored, name, uploaded, upload)
