"""``/api/works``: the catalogue as admins and owners see it; registering works (a
background job) and removing them.

An owner sees and removes its own works only; another owner's answer 404. Registering
accepts an upload or a file under a server folder the admin allows, video or audio-only.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ...library import LibraryError
from ...records import CATEGORIES, valid_work_id
from ..auth import AdminOrOwner
from ..jobs import ID_UNAVAILABLE
from ..state import ServerPath, ServiceDep
from ..usage import work_usage

POSTER_AT = 0.10  # poster frame at 10% of the duration

router = APIRouter(tags=["works"])

AUTOMATIC_ID = re.compile(r"w[0-9a-f]{10}")
"""The form of the library's automatic ids ("w" + the content hash's first 10 hex digits)."""


def new_work_id() -> str:
    """A random work id for a work registered through the service ("w" + 16 hex digits)."""
    return "w" + secrets.token_hex(8)


@router.get("/api/works", summary="List works (admin: all; owner: its own)")
def list_works(
    service: ServiceDep,
    acct: AdminOrOwner,
    category: str | None = Query(None, description="category name, e.g. film"),
    owner: str | None = Query(None, description="exact owner name"),
    q: str | None = Query(None, description="search in titles (case-insensitive)"),
):
    works = service.visible_works(acct)
    if category:
        works = [w for w in works if w.category == category]
    if owner is not None:
        works = [w for w in works if w.owner == owner]
    if q:
        works = [w for w in works if q.casefold() in w.title.casefold()]
    names = {a.id: a.name for a in service.db.accounts()}
    return {"works": [service.work_answer(acct, w, names) for w in works]}


@router.post("/api/works", status_code=202,
             summary="Register a work from an upload or an allowed server path (a background job)")  # fmt: skip
def register_work(
    service: ServiceDep,
    acct: AdminOrOwner,
    file: UploadFile | None = File(None, description="the work's media file"),
    path: ServerPath = None,
    title: str | None = Form(None),
    category: str = Form("film"),
    work_id: str | None = Form(None),
    owner: str | None = Form(None, description="admin only: owner name written on the work"),
    account: str | None = Form(None, description="admin only: owner account the work belongs to"),
):
    if category not in CATEGORIES:
        raise HTTPException(400, f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")
    if work_id and not valid_work_id(work_id):
        raise HTTPException(400, "work_id must be 1-64 letters, digits, '.', '_' or '-'")
    attributed, owner_name = acct.id, acct.display_owner
    if acct.role == "admin":
        if account:
            target = service.db.account_by_name(account)
            if target is None or target.role != "owner":
                raise HTTPException(400, f"no owner account {account!r}")
            attributed, owner_name = target.id, target.display_owner
        else:
            owner_name = ""
        if owner:
            owner_name = owner.strip()[:200]
    elif owner or account:
        raise HTTPException(403, "only an admin may register a work for another owner")
    if work_id and AUTOMATIC_ID.fullmatch(work_id):
        # The CLI's automatic ids are a prefix of the content hash: answering whether one is
        # taken would tell a caller holding a file whether it is registered.
        raise HTTPException(400, "work ids of the form 'w' + 10 hex digits are kept for automatic ids")
    if work_id and service.lib.work(work_id) is not None:
        raise HTTPException(409, ID_UNAVAILABLE.format(work_id))
    # Without one, the id is random: it must not be computable from the file (the CLI's are).
    work_id = work_id or new_work_id()
    stored, name, uploaded = service.take_input(file, path, service.works_root)
    job = service.db.add_job("register", acct.id, name, {
        "path": stored, "uploaded": uploaded, "title": (title or "").strip()[:300] or None,
        "category": category, "work_id": work_id, "owner": owner_name, "account_id": attributed,
        "admin": acct.role == "admin",
    }, work_id=work_id)  # fmt: skip
    if job is None:  # reserved by a queued job, or used by a work since deleted
        if uploaded:
            shutil.rmtree(os.path.dirname(stored), ignore_errors=True)
        raise HTTPException(409, ID_UNAVAILABLE.format(work_id))
    service.workers.notify()
    return JSONResponse({"job": job.to_dict()}, status_code=202, headers={"Location": f"/api/jobs/{job.id}"})


@router.get("/api/works/{work_id}", summary="One work, with how much of it was found reused")
def show_work(work_id: str, service: ServiceDep, acct: AdminOrOwner):
    work = service.work_for(acct, work_id)
    out = service.work_answer(acct, work)
    out["usage"] = work_usage(service.visible_matches(acct, work_id=work_id), work.duration)
    return out


class WorkChanges(BaseModel):
    """What ``PATCH /api/works/{work_id}`` may change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=300)
    category: str | None = Field(None, description="one of the categories, e.g. film")
    owner: str | None = Field(None, max_length=200, description="admin only: the owner name written on the work")
    account: str | None = Field(None, max_length=64, description=(
        "admin only: transfer the work to this owner account (its owner name is written on the work); "
        "an empty string leaves the work with no owner account"))  # fmt: skip


@router.patch("/api/works/{work_id}", summary="Change a work's title or category; (admin) transfer it to an owner")
def edit_work(work_id: str, changes: WorkChanges, service: ServiceDep, acct: AdminOrOwner):
    service.work_for(acct, work_id)  # 404 for a work the account cannot see
    if (changes.owner is not None or changes.account is not None) and acct.role != "admin":
        raise HTTPException(403, "only an admin may change a work's owner")
    if changes.category is not None and changes.category not in CATEGORIES:
        raise HTTPException(400, f"unknown category {changes.category!r}; choose from {', '.join(CATEGORIES)}")
    title = changes.title.strip() if changes.title is not None else None
    if title == "":
        raise HTTPException(400, "a title cannot be empty")
    owner_name = changes.owner.strip() if changes.owner is not None else None
    target = None
    if changes.account:
        target = service.db.account_by_name(changes.account)
        if target is None or target.role != "owner":
            raise HTTPException(400, f"no owner account {changes.account!r}")
        owner_name = owner_name if owner_name is not None else target.display_owner
    try:
        work = service.lib.edit(work_id, title=title, owner=owner_name, category=changes.category)
    except LibraryError as err:
        raise HTTPException(404, str(err)) from None
    if target is not None:
        service.db.set_work_account(work_id, target.id)
    elif changes.account == "":
        service.db.clear_work_account(work_id)
    return service.work_answer(acct, work)


@router.delete("/api/works/{work_id}", summary="Remove a work from the library")
def delete_work(work_id: str, service: ServiceDep, acct: AdminOrOwner):
    work = service.work_for(acct, work_id)
    try:
        service.lib.remove(work_id)
    except LibraryError as err:
        raise HTTPException(404, str(err)) from None
    service.db.forget_work(work_id)
    # The kept upload goes with the work; a file registered by server path is not ours to delete.
    src = os.path.realpath(work.source_path)
    if os.path.commonpath([src, os.path.realpath(service.works_root)]) == os.path.realpath(service.works_root):
        shutil.rmtree(os.path.dirname(src), ignore_errors=True)
    return {"deleted": work_id}


@router.get("/api/works/{work_id}/poster.jpg", summary="Poster frame (at 10% of the duration)",
            response_class=Response)  # fmt: skip
def work_poster(work_id: str, service: ServiceDep, acct: AdminOrOwner):
    work = service.work_for(acct, work_id)
    data = service.frame(work.source_path, work.duration * POSTER_AT, 480)
    if data is None:
        return RedirectResponse("/static/placeholder.svg", status_code=307)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
