"""The HTTP service: JSON API (``/api/...``, described by the OpenAPI schema at
``/openapi.json`` and ``/docs``) and the web console (server-rendered HTML), in one
FastAPI application over one library folder.

Authentication: ``Authorization: Bearer <token>`` for API clients, or the HttpOnly
``reeltrace_token`` cookie set by the console's login page. Objects another account may
not read answer 404 (their existence is not revealed); actions a role may not take answer
403; a missing or unknown token answers 401. Every error has a JSON body
``{"detail": "...", "status": N}`` (console pages answer HTML).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..report.formats import work_public
from ..report.evidence import WORK_COLOURS, clock, pair_times, render_report
from ..library import Library, LibraryError
from ..records import valid_work_id
from ..records import CATEGORIES, ScanResult, Segment, Work, WorkMatch
from .db import ROLES, Account, Job, ServiceDB, ServiceError
from .files import (
    DEFAULT_MAX_UPLOAD,
    FileRejected,
    FrameCache,
    check_media,
    display_name,
    list_allowed,
    new_upload_folder,
    resolve_allowed,
    safe_name,
    save_stream,
)
from .jobs import Workers

COOKIE = "reeltrace_token"
HERE = os.path.dirname(os.path.abspath(__file__))
POSTER_AT = 0.10  # poster frame at 10% of the duration


@dataclass
class ServiceConfig:
    library_folder: str
    allowed_paths: list[str] = field(default_factory=list)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    workers: int = 1
    model: str | None = None
    secure_cookie: bool = False


def _err(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


class Service:
    """Shared state of one app: config, service DB, workers, per-thread read-only libraries."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.folder = config.library_folder
        os.makedirs(self.folder, exist_ok=True)
        self.db = ServiceDB(os.path.join(self.folder, "service.sqlite"))
        self.root = os.path.join(self.folder, "service")
        self.works_root = os.path.join(self.root, "works")
        self.queries_root = os.path.join(self.root, "queries")
        for d in (self.works_root, self.queries_root):
            os.makedirs(d, exist_ok=True)
        self.frames = FrameCache(os.path.join(self.root, "cache"))
        self.workers = Workers(self.folder, self.db, config.workers, config.model)
        self._local = threading.local()
        self._libs: list[Library] = []
        self._lock = threading.Lock()

    @property
    def lib(self) -> Library:
        """This thread's Library, for catalogue reads and removals (never embeds)."""
        lib = getattr(self._local, "lib", None)
        if lib is None:
            lib = Library(self.folder, model=self.config.model)
            self._local.lib = lib
            with self._lock:
                self._libs.append(lib)
        return lib

    def close(self) -> None:
        self.workers.stop()
        with self._lock:
            for lib in self._libs:
                try:
                    lib.store.close()
                except Exception:
                    pass
            self._libs.clear()
        self.db.close()

    # -- visibility ----------------------------------------------------------------------

    def visible_works(self, acct: Account) -> list[Work]:
        works = self.lib.works()
        if acct.role == "admin":
            return works
        if acct.role == "owner":
            mine = {w for w, a in self.db.work_accounts().items() if a == acct.id}
            return [w for w in works if w.work_id in mine]
        return []

    def can_see_work(self, acct: Account, work_id: str) -> bool:
        if acct.role == "admin":
            return True
        return acct.role == "owner" and self.db.work_account(work_id) == acct.id

    def work_for(self, acct: Account, work_id: str) -> Work:
        work = self.lib.work(work_id) if valid_work_id(work_id) else None
        if work is None or not self.can_see_work(acct, work_id):
            raise _err(404, f"no work {work_id!r}")
        return work

    def scan_for(self, acct: Account, scan_id: str) -> Job:
        job = self.db.job(scan_id)
        if job is None or job.kind != "scan" or (acct.role != "admin" and job.account_id != acct.id):
            raise _err(404, f"no scan {scan_id!r}")
        return job

    def match_for(self, acct: Account, scan_id: str, work_id: str) -> tuple[Job, dict]:
        """A scan's match against one work, for the scan's account, admins and the work's owner."""
        job = self.db.job(scan_id)
        if job is None or job.kind != "scan" or job.result is None:
            raise _err(404, f"no match of work {work_id!r} in scan {scan_id!r}")
        allowed = acct.role == "admin" or job.account_id == acct.id or self.can_see_work(acct, work_id)
        match = next((m for m in job.result.get("matches", []) if m["work_id"] == work_id), None)
        if not allowed or match is None:
            raise _err(404, f"no match of work {work_id!r} in scan {scan_id!r}")
        return job, match

    def visible_matches(self, acct: Account, work_id=None, scan_id=None, owner=None) -> list[dict]:
        if acct.role == "admin":
            rows = self.db.matches(work_ids=[work_id] if work_id else None, scan_id=scan_id, owner=owner)
        elif acct.role == "owner":
            mine = [w for w, a in self.db.work_accounts().items() if a == acct.id]
            if work_id:
                mine = [w for w in mine if w == work_id]
            rows = self.db.matches(work_ids=mine, scan_id=scan_id, owner=owner)
        else:
            rows = self.db.matches(work_ids=[work_id] if work_id else None, scan_id=scan_id,
                                   scan_account_id=acct.id, owner=owner)  # fmt: skip
        return [_match_row(r) for r in rows]

    # -- submissions -----------------------------------------------------------------------

    def take_input(self, upload: UploadFile | None, path: str | None, dest_root: str) -> tuple[str, str, bool]:
        """(file on the server, display name, uploaded?) from an upload or an allowed path."""
        if (upload is None or not upload.filename) == (not path):
            raise FileRejected(400, "give exactly one of 'file' (an upload) or 'path' (a server-side path)")
        if path:
            real = resolve_allowed(path, self.config.allowed_paths)
            check_media(real)
            return real, path, False
        folder = new_upload_folder(dest_root)
        dest = os.path.join(folder, safe_name(upload.filename))
        try:
            save_stream(upload.file, dest, self.config.max_upload_bytes)
            check_media(dest)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return dest, display_name(upload.filename), True

    def frame(self, path: str, t: float, width: int = 320) -> bytes | None:
        return self.frames.get(path, t, width)


def _match_row(r: dict) -> dict:
    return {
        "scan_id": r["scan_id"],
        "query": r["query_name"],
        "work_id": r["work_id"],
        "title": r["title"],
        "owner": r["owner"],
        "modality": r["modality"],
        "match_score": r["match_score"],
        "query_start": r["query_start"],
        "query_end": r["query_end"],
        "work_start": r["work_start"],
        "work_end": r["work_end"],
        "score": r["score"],
        "found_at": r["found_at"],
    }


def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, None
    start = None
    for a, b in sorted(intervals):
        if end is None or a > end:
            if end is not None:
                total += end - start
            start, end = a, b
        else:
            end = max(end, b)
    if end is not None:
        total += end - start
    return total


def work_usage(rows: list[dict], duration: float) -> dict:
    """Videos a work was found in, seconds matched, share of the work reused, first/last seen."""
    if not rows:
        return {"videos": 0, "matched_seconds": 0.0, "reused_fraction": 0.0, "first_seen": None, "last_seen": None}
    covered = _union_seconds([(r["work_start"], r["work_end"]) for r in rows])
    return {
        "videos": len({r["scan_id"] for r in rows}),
        "matched_seconds": round(sum(r["query_end"] - r["query_start"] for r in rows), 2),
        "reused_fraction": round(min(covered / duration, 1.0), 4) if duration > 0 else 0.0,
        "first_seen": min(r["found_at"] for r in rows),
        "last_seen": max(r["found_at"] for r in rows),
    }


def _scan_dict(job: Job, with_result: bool = True) -> dict:
    out = job.to_dict()
    out["query"] = job.name
    out["source"] = "upload" if job.params.get("uploaded") else "path"
    if with_result:
        out["result"] = job.result
    return out


def result_objects(svc: Service, job: Job) -> ScanResult:
    """The stored result of a scan as records (for the evidence report)."""
    r = job.result or {"query": job.name, "duration": 0.0, "error": job.error, "matches": []}
    res = ScanResult(query=r["query"], duration=r.get("duration", 0.0), error=r.get("error"))
    for m in r.get("matches", []):
        work = svc.lib.work(m["work_id"]) or Work(m["work_id"], m["title"], m["owner"], m["category"], 0.0, "", "", "",
                                                  True, False)  # fmt: skip
        segs = [Segment(s["query_start"], s["query_end"], s["work_start"], s["work_end"], s["score"]) for s in m["segments"]]
        res.matches.append(WorkMatch(work, m["modality"], m["score"], segs))
    return res


# -- the application ---------------------------------------------------------------------


def create_app(
    library_folder: str,
    allowed_paths: list[str] | None = None,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    workers: int = 1,
    model: str | None = None,
    secure_cookie: bool = False,
) -> FastAPI:
    """The service over ``library_folder``.

    ``allowed_paths``: server folders whose files may be registered or scanned by path.
    ``workers``: background job threads (each loads the descriptor model once; 0 = none).
    The workers start, and jobs a dead server left running are queued again, when the
    app starts (its lifespan); they stop when it shuts down.
    """
    config = ServiceConfig(
        library_folder=os.path.abspath(library_folder),
        allowed_paths=[os.path.abspath(p) for p in (allowed_paths or [])],
        max_upload_bytes=max_upload_bytes,
        workers=workers,
        model=model,
        secure_cookie=secure_cookie,
    )
    svc = Service(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc.workers.start()
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(
        title="reeltrace",
        version=__version__,
        description="Register film/TV works, scan videos, and report which segments of which works they reuse.",
        lifespan=lifespan,
    )
    app.state.service = svc
    templates = Environment(loader=PackageLoader("reeltrace.service", "templates"), autoescape=select_autoescape())
    templates.globals.update(timeline_total=timeline_total, clock=clock, categories=CATEGORIES, colours=WORK_COLOURS, version=__version__)
    templates.filters["when"] = lambda v: _when(v)
    app.mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static")

    # -- errors ---------------------------------------------------------------------------

    def _wants_html(request: Request) -> bool:
        return not request.url.path.startswith("/api/") and request.url.path != "/openapi.json"

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if _wants_html(request):
            if exc.status_code == 401:
                return RedirectResponse("/login", status_code=303)
            page = templates.get_template("error.html").render(status=exc.status_code, message=exc.detail, me=None)
            return HTMLResponse(page, status_code=exc.status_code)
        return JSONResponse({"detail": exc.detail, "status": exc.status_code}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))  # fmt: skip

    @app.exception_handler(FileRejected)
    async def file_error(request: Request, exc: FileRejected):
        return JSONResponse({"detail": exc.message, "status": exc.status}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse({"detail": f"invalid request: {problems}", "status": 422, "errors": jsonable(exc.errors())},
                            status_code=422)  # fmt: skip

    @app.middleware("http")
    async def upload_limit(request: Request, call_next):
        if request.method == "POST" and request.url.path in ("/api/works", "/api/scans"):
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > config.max_upload_bytes + (1 << 16):
                return JSONResponse(
                    {"detail": f"upload too large: the limit is {config.max_upload_bytes} bytes", "status": 413},
                    status_code=413,
                )
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    # -- auth -----------------------------------------------------------------------------

    def current(request: Request) -> Account:
        token = None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif request.cookies.get(COOKIE):
            token = request.cookies.get(COOKIE)
        acct = svc.db.account_by_token(token) if token else None
        if acct is None:
            raise HTTPException(401, "missing or invalid token", headers={"WWW-Authenticate": "Bearer"})
        return acct

    def role(*roles: str):
        def check(acct: Account = Depends(current)) -> Account:
            if acct.role not in roles:
                raise _err(403, f"this action needs the {' or '.join(roles)} role; you are {acct.role}")
            return acct

        return check

    # -- API: accounts ------------------------------------------------------------------------

    @app.get("/api/me", tags=["accounts"], summary="The account of the token")
    def me(acct: Account = Depends(current)):
        return acct.to_dict()

    @app.get("/api/accounts", tags=["accounts"], summary="List accounts (admin)")
    def list_accounts(acct: Account = Depends(role("admin"))):
        return {"accounts": [a.to_dict() for a in svc.db.accounts()]}

    @app.post("/api/accounts", tags=["accounts"], status_code=201,
              summary="Create an account (admin); its token is in the answer, and only there")  # fmt: skip
    def create_account(body: dict, acct: Account = Depends(role("admin"))):
        name = str(body.get("name", "")).strip()
        new_role = str(body.get("role", ""))
        if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@ " for c in name):
            raise _err(400, "name must be 1-64 letters, digits, spaces or . _ - @")
        if new_role not in ROLES:
            raise _err(400, f"role must be one of {', '.join(ROLES)}")
        try:
            created, token = svc.db.create_account(name, new_role, str(body.get("owner_name", "")).strip()[:200])
        except ServiceError as err:
            raise _err(409, str(err)) from None
        return {"account": created.to_dict(), "token": token}

    @app.delete("/api/accounts/{name}", tags=["accounts"], summary="Delete an account (admin)")
    def delete_account(name: str, acct: Account = Depends(role("admin"))):
        target = svc.db.account_by_name(name)
        if target is None:
            raise _err(404, f"no account {name!r}")
        if target.id == acct.id:
            raise _err(400, "you cannot delete your own account")
        svc.db.delete_account(target.id)
        return {"deleted": name}

    # -- API: works ---------------------------------------------------------------------------

    @app.get("/api/works", tags=["works"], summary="List works (admin: all; owner: its own)")
    def list_works(
        category: str | None = Query(None, description="category name, e.g. film"),
        owner: str | None = Query(None, description="exact owner name"),
        q: str | None = Query(None, description="search in titles (case-insensitive)"),
        acct: Account = Depends(role("admin", "owner")),
    ):
        works = svc.visible_works(acct)
        if category:
            works = [w for w in works if w.category == category]
        if owner is not None:
            works = [w for w in works if w.owner == owner]
        if q:
            works = [w for w in works if q.casefold() in w.title.casefold()]
        return {"works": [work_public(w) for w in works]}

    @app.post("/api/works", tags=["works"], status_code=202,
              summary="Register a work from an upload or an allowed server path (a background job)")  # fmt: skip
    def register_work(
        file: UploadFile | None = File(None, description="the work's media file"),
        path: str | None = Form(None, description="or a file under a server folder the admin allows"),
        title: str | None = Form(None),
        category: str = Form("film"),
        work_id: str | None = Form(None),
        owner: str | None = Form(None, description="admin only: owner name written on the work"),
        account: str | None = Form(None, description="admin only: owner account the work belongs to"),
        acct: Account = Depends(role("admin", "owner")),
    ):
        if category not in CATEGORIES:
            raise _err(400, f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")
        if work_id and not valid_work_id(work_id):
            raise _err(400, "work_id must be 1-64 letters, digits, '.', '_' or '-'")
        attributed, owner_name = acct.id, acct.display_owner
        if acct.role == "admin":
            if account:
                target = svc.db.account_by_name(account)
                if target is None or target.role != "owner":
                    raise _err(400, f"no owner account {account!r}")
                attributed, owner_name = target.id, target.display_owner
            else:
                owner_name = ""
            if owner:
                owner_name = owner.strip()[:200]
        elif owner or account:
            raise _err(403, "only an admin may register a work for another owner")
        if work_id and svc.lib.work(work_id) is not None:
            raise _err(409, f"work id {work_id!r} is already taken")
        stored, name, uploaded = svc.take_input(file, path, svc.works_root)
        job = svc.db.add_job("register", acct.id, name, {
            "path": stored, "uploaded": uploaded, "title": (title or "").strip()[:300] or None,
            "category": category, "work_id": work_id or None, "owner": owner_name, "account_id": attributed,
            "admin": acct.role == "admin",
        })  # fmt: skip
        svc.workers.notify()
        return JSONResponse({"job": job.to_dict()}, status_code=202, headers={"Location": f"/api/jobs/{job.id}"})

    @app.get("/api/works/{work_id}", tags=["works"], summary="One work, with how much of it was found reused")
    def show_work(work_id: str, acct: Account = Depends(role("admin", "owner"))):
        work = svc.work_for(acct, work_id)
        out = work_public(work)
        out["usage"] = work_usage(svc.visible_matches(acct, work_id=work_id), work.duration)
        return out

    @app.delete("/api/works/{work_id}", tags=["works"], summary="Remove a work from the library")
    def delete_work(work_id: str, acct: Account = Depends(role("admin", "owner"))):
        work = svc.work_for(acct, work_id)
        try:
            svc.lib.remove(work_id)
        except LibraryError as err:
            raise _err(404, str(err)) from None
        svc.db.forget_work(work_id)
        src = os.path.realpath(work.source_path)
        if os.path.commonpath([src, os.path.realpath(svc.works_root)]) == os.path.realpath(svc.works_root):
            shutil.rmtree(os.path.dirname(src), ignore_errors=True)
        return {"deleted": work_id}

    @app.get("/api/works/{work_id}/poster.jpg", tags=["works"], summary="Poster frame (at 10% of the duration)",
             response_class=Response)  # fmt: skip
    def work_poster(work_id: str, acct: Account = Depends(role("admin", "owner"))):
        work = svc.work_for(acct, work_id)
        data = svc.frame(work.source_path, work.duration * POSTER_AT, 480)
        if data is None:
            return RedirectResponse("/static/placeholder.svg", status_code=307)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    def _matches_response(rows: list[dict], fmt: str, filename: str):
        if fmt == "csv":
            out = io.StringIO()
            fields = list(_match_row({k: "" for k in ("scan_id", "query_name", "work_id", "title", "owner", "modality",
                "match_score", "query_start", "query_end", "work_start", "work_end", "score", "found_at")}))  # fmt: skip
            writer = csv.DictWriter(out, fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})  # fmt: skip
        if fmt != "json":
            raise _err(400, "format must be json or csv")
        return {"matches": rows}

    @app.get("/api/works/{work_id}/matches", tags=["matches"], summary="Every match against a work (JSON or CSV)")
    def work_matches(work_id: str, format: str = Query("json", pattern="^(json|csv)$"),
                     acct: Account = Depends(role("admin", "owner"))):  # fmt: skip
        svc.work_for(acct, work_id)
        return _matches_response(svc.visible_matches(acct, work_id=work_id), format, f"{work_id}-matches")

    # -- API: scans ---------------------------------------------------------------------------

    @app.get("/api/scans", tags=["scans"], summary="List scans (admin: all; scanner: its own)")
    def list_scans(acct: Account = Depends(role("admin", "scanner"))):
        jobs = svc.db.jobs(kind="scan", account_id=None if acct.role == "admin" else acct.id)
        return {"scans": [_scan_dict(j, with_result=False) for j in jobs]}

    @app.post("/api/scans", tags=["scans"], status_code=202,
              summary="Submit a video to scan, uploaded or by allowed server path (a background job)")  # fmt: skip
    def submit_scan(
        file: UploadFile | None = File(None, description="the video to scan"),
        path: str | None = Form(None, description="or a file under a server folder the admin allows"),
        acct: Account = Depends(role("admin", "scanner")),
    ):
        stored, name, uploaded = svc.take_input(file, path, svc.queries_root)
        job = svc.db.add_job("scan", acct.id, name, {"path": stored, "uploaded": uploaded})
        svc.workers.notify()
        return JSONResponse({"scan": _scan_dict(job)}, status_code=202, headers={"Location": f"/api/scans/{job.id}"})

    @app.get("/api/scans/{scan_id}", tags=["scans"], summary="Status of a scan, and its result once done")
    def show_scan(scan_id: str, acct: Account = Depends(role("admin", "scanner"))):
        return _scan_dict(svc.scan_for(acct, scan_id))

    @app.get("/api/scans/{scan_id}/result", tags=["scans"],
             summary="The result in the JSON shape of `reeltrace scan --format json`")  # fmt: skip
    def scan_result(scan_id: str, acct: Account = Depends(role("admin", "scanner"))):
        job = svc.scan_for(acct, scan_id)
        if job.status in ("queued", "running"):
            raise _err(409, f"scan {scan_id} is {job.status}; poll /api/scans/{scan_id}")
        result = dict(job.result or {"query": job.name, "duration": 0.0, "error": job.error, "matches": []})
        result.pop("elapsed", None)
        return {"results": [result]}

    @app.get("/api/scans/{scan_id}/report.html", tags=["scans"], response_class=HTMLResponse,
             summary="Evidence report: one self-contained HTML file")  # fmt: skip
    def scan_report(scan_id: str, acct: Account = Depends(role("admin", "scanner"))):
        job = svc.scan_for(acct, scan_id)
        if job.status in ("queued", "running"):
            raise _err(409, f"scan {scan_id} is {job.status}")
        html = render_report(
            [result_objects(svc, job)],
            library=svc.folder,
            scanned_at=job.finished_at,
            query_files=[job.params["path"]],
            query_names=[job.name],
            requested_by=(svc.db.account(job.account_id) or acct).name,
            title=f"Evidence report · scan {job.id}",
        )
        return HTMLResponse(html, headers={"Content-Disposition": f'inline; filename="reeltrace-{job.id}.html"'})

    @app.get("/api/scans/{scan_id}/matches", tags=["matches"], summary="Every match found by one scan")
    def scan_matches(scan_id: str, acct: Account = Depends(role("admin", "scanner"))):
        svc.scan_for(acct, scan_id)
        return {"matches": svc.visible_matches(acct, scan_id=scan_id)}

    @app.get("/api/scans/{scan_id}/matches/{work_id}", tags=["matches"],
             summary="One scan's match against one work, with frame-pair times")  # fmt: skip
    def match_detail(scan_id: str, work_id: str, acct: Account = Depends(current)):
        job, match = svc.match_for(acct, scan_id, work_id)
        segs = []
        for s in match["segments"]:
            seg = Segment(s["query_start"], s["query_end"], s["work_start"], s["work_end"], s["score"])
            segs.append(dict(s, pairs=[{"query_time": q, "work_time": w} for q, w in pair_times(seg)]))
        return {"scan_id": job.id, "query": job.name, **match, "segments": segs}

    @app.get("/api/scans/{scan_id}/matches/{work_id}/frame.jpg", tags=["matches"], response_class=Response,
             summary="A query or work frame inside a matched segment")  # fmt: skip
    def match_frame(scan_id: str, work_id: str, side: str = Query(..., pattern="^(query|work)$"),
                    t: float = Query(..., ge=0), acct: Account = Depends(current)):  # fmt: skip
        job, match = svc.match_for(acct, scan_id, work_id)
        key = "query" if side == "query" else "work"
        if not any(s[f"{key}_start"] - 1.0 <= t <= s[f"{key}_end"] + 1.0 for s in match["segments"]):
            raise _err(404, "no matched segment at that time")
        if side == "query":
            path = job.params["path"]
        else:
            work = svc.lib.work(work_id)
            path = work.source_path if work else ""
        data = svc.frame(path, t) if path else None
        if data is None:
            return RedirectResponse("/static/placeholder.svg", status_code=307)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/matches", tags=["matches"],
             summary="Matches visible to the caller, by work, by scan or by owner (JSON or CSV)")  # fmt: skip
    def list_matches(
        work_id: str | None = None,
        scan_id: str | None = None,
        owner: str | None = Query(None, description="owner name written on the works"),
        format: str = Query("json", pattern="^(json|csv)$"),
        acct: Account = Depends(current),
    ):
        return _matches_response(svc.visible_matches(acct, work_id, scan_id, owner), format, "matches")

    # -- API: jobs and files ------------------------------------------------------------------

    @app.get("/api/jobs", tags=["jobs"], summary="Your jobs (admin: everyone's)")
    def list_jobs(acct: Account = Depends(current)):
        jobs = svc.db.jobs(account_id=None if acct.role == "admin" else acct.id)
        return {"jobs": [j.to_dict() for j in jobs]}

    @app.get("/api/jobs/{job_id}", tags=["jobs"], summary="One job: status, attempts and result")
    def show_job(job_id: str, acct: Account = Depends(current)):
        job = svc.db.job(job_id)
        if job is None or (acct.role != "admin" and job.account_id != acct.id):
            raise _err(404, f"no job {job_id!r}")
        out = job.to_dict()
        out["result"] = job.result
        return out

    @app.get("/api/paths", tags=["files"], summary="Media files under the server folders the admin allows")
    def allowed_files(acct: Account = Depends(current)):
        return {"roots": config.allowed_paths, "files": list_allowed(config.allowed_paths)}

    # -- console ------------------------------------------------------------------------------

    def page(name: str, me: Account | None, **ctx) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(me=me, **ctx))

    def console_user(request: Request) -> Account:
        return current(request)

    @app.get("/login", include_in_schema=False)
    def login_page(error: str | None = None):
        return page("login.html", None, error=error)

    @app.post("/login", include_in_schema=False)
    def login(token: str = Form("")):
        acct = svc.db.account_by_token(token.strip())
        if acct is None:
            return HTMLResponse(templates.get_template("login.html").render(me=None, error="Unknown token."),
                                status_code=401)  # fmt: skip
        resp = RedirectResponse("/scans" if acct.role == "scanner" else "/", status_code=303)
        resp.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", secure=config.secure_cookie,
                        path="/", max_age=30 * 24 * 3600)  # fmt: skip
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout():
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return resp

    @app.get("/", include_in_schema=False)
    def catalogue(acct: Account = Depends(console_user)):
        if acct.role == "scanner":
            return RedirectResponse("/scans", status_code=303)
        works = svc.visible_works(acct)
        rows = svc.visible_matches(acct)
        by_work: dict[str, list[dict]] = {}
        for r in rows:
            by_work.setdefault(r["work_id"], []).append(r)
        halls = []
        for cat, label in CATEGORIES.items():
            items = [(w, work_usage(by_work.get(w.work_id, []), w.duration)) for w in works if w.category == cat]
            halls.append({"category": cat, "label": label, "works": items})
        return page("catalogue.html", acct, halls=halls, total=len(works),
                    allowed=bool(config.allowed_paths), nav="catalogue")  # fmt: skip

    @app.get("/works/{work_id}", include_in_schema=False)
    def work_page(work_id: str, acct: Account = Depends(console_user)):
        work = svc.work_for(acct, work_id)
        rows = svc.visible_matches(acct, work_id=work_id)
        videos: dict[str, dict] = {}
        for r in rows:
            v = videos.setdefault(r["scan_id"], {"scan_id": r["scan_id"], "query": r["query"], "segments": [],
                                                 "first_seen": r["found_at"], "last_seen": r["found_at"]})  # fmt: skip
            v["segments"].append(r)
            v["first_seen"] = min(v["first_seen"], r["found_at"])
            v["last_seen"] = max(v["last_seen"], r["found_at"])
        for v in videos.values():
            v["segments"].sort(key=lambda r: r["query_start"])
            v["seconds"] = sum(r["query_end"] - r["query_start"] for r in v["segments"])
            v["best"] = max(r["score"] for r in v["segments"])
        return page("work.html", acct, work=work, usage=work_usage(rows, work.duration),
                    videos=sorted(videos.values(), key=lambda v: v["last_seen"], reverse=True), nav="catalogue")  # fmt: skip

    @app.get("/scans", include_in_schema=False)
    def scans_page(acct: Account = Depends(console_user)):
        if acct.role == "owner":
            return RedirectResponse("/", status_code=303)
        jobs = svc.db.jobs(kind="scan", account_id=None if acct.role == "admin" else acct.id, limit=50)
        return page("scans.html", acct, scans=jobs, allowed=bool(config.allowed_paths), nav="scans")

    @app.get("/scans/{scan_id}", include_in_schema=False)
    def scan_page(scan_id: str, acct: Account = Depends(console_user)):
        job = svc.scan_for(acct, scan_id)
        return page("scan.html", acct, scan=job, nav="scans")

    @app.get("/scans/{scan_id}/matches/{work_id}", include_in_schema=False)
    def match_page(scan_id: str, work_id: str, acct: Account = Depends(console_user)):
        job, match = svc.match_for(acct, scan_id, work_id)
        work = svc.lib.work(work_id)
        colour_index = next(i for i, m in enumerate(job.result["matches"]) if m["work_id"] == work_id)
        segs = []
        for s in match["segments"]:
            seg = Segment(s["query_start"], s["query_end"], s["work_start"], s["work_end"], s["score"])
            segs.append({**s, "pairs": pair_times(seg)})
        work_file = bool(work and os.path.isfile(work.source_path))
        can_scan = acct.role == "admin" or job.account_id == acct.id
        return page("match.html", acct, scan=job, match=match, work=work, segments=segs, work_file=work_file,
                    colour=WORK_COLOURS[colour_index % len(WORK_COLOURS)], can_scan=can_scan,
                    nav="scans" if can_scan else "catalogue")  # fmt: skip

    @app.get("/scans/{scan_id}/report.html", include_in_schema=False)
    def report_page(scan_id: str, request: Request, acct: Account = Depends(console_user)):
        if acct.role not in ("admin", "scanner"):
            raise _err(403, "evidence reports are for the scan's account")
        return scan_report(scan_id, acct)

    return app


def _when(value) -> str:
    """ISO time (UTC) as 'YYYY-MM-DD HH:MM UTC' for pages."""
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(str(value)).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value)


def timeline_total(result: dict) -> float:
    ends = [s["query_end"] for m in result.get("matches", []) for s in m["segments"]]
    return max([result.get("duration") or 0.0] + ends) or 1.0


def jsonable(value):
    return json.loads(json.dumps(value, default=str))
