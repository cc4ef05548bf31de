"""The HTTP service: JSON API (``/api/...``, described by the OpenAPI schema at
``/openapi.json`` and ``/docs``) and the web console (server-rendered HTML), in one
FastAPI application over one library folder.

Authentication: ``Authorization: Bearer <token>`` for API clients, or the HttpOnly
``reeltrace_token`` cookie set by the console's login page. Objects another account may
not read answer 404 (their existence is not revealed); actions a role may not take answer
403; a missing or unknown token answers 401. Every error has a JSON body
``{"detail": "...", "status": N}`` (console pages answer HTML).

This module only wires the parts together: the shared state is ``state.Service``, who is
calling is ``auth``, the routes are ``routers``, the pages ``pages``.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..media.limits import InputLimits
from .files import DEFAULT_LIMITS, DEFAULT_MAX_UPLOAD, FileRejected
from .guard import RequestGuard
from .monitors import MonitorConfig
from .pages import Pages
from .routers import ROUTERS, apidocs
from .rights import RightsConfig
from .state import Service, ServiceConfig

HERE = os.path.dirname(os.path.abspath(__file__))
log = logging.getLogger("reeltrace.service")


def create_app(
    library_folder: str,
    allowed_paths: list[str] | None = None,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    workers: int = 1,
    model: str | None = None,
    secure_cookie: bool = False,
    limits: InputLimits = DEFAULT_LIMITS,
    monitors: MonitorConfig = MonitorConfig(),
    rights: RightsConfig = RightsConfig(),
    database: str | None = None,
    job_lease_s: float | None = None,
) -> FastAPI:
    """The service over ``library_folder``.

    ``allowed_paths``: server folders whose files may be registered or scanned by path.
    ``workers``: background job threads (each loads the descriptor model once; 0 = none).
    ``limits``: what one input may cost (duration and picture size, checked on upload from
    the probe; decoding time, in the job).
    ``monitors``: how many live-stream monitors may run (overall, per account) and what
    they keep (``monitors.MonitorConfig``).
    ``rights``: the claims' response window, the check threads, webhook delivery
    (``rights.RightsConfig``).
    ``database``: a ``postgresql://`` URL for the service's tables, shared with other servers
    (docs/scale-out.md); None: service.sqlite in the library folder. ``job_lease_s``: how
    long a job stays its server's without a renewal, on a shared database (``db.LEASE_S``).
    The workers start, jobs a dead server left running are queued again, and monitors it
    left running are followed again, when the app starts (its lifespan); workers and
    monitors stop when it shuts down.
    """
    config = ServiceConfig(
        library_folder=os.path.abspath(library_folder),
        allowed_paths=[os.path.abspath(p) for p in (allowed_paths or [])],
        max_upload_bytes=max_upload_bytes,
        workers=workers,
        model=model,
        secure_cookie=secure_cookie,
        limits=limits,
        monitors=monitors,
        rights=rights,
        database=database,
        job_lease_s=job_lease_s,
    )
    service = Service(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.workers.start()
        service.monitors.start()
        service.rights.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="reeltrace",
        version=__version__,
        description="Register film/TV works, scan videos, and report which segments of which works they reuse.",
        lifespan=lifespan,
        docs_url=None,  # routers.apidocs serves /docs from local assets
        redoc_url=None,  # ReDoc would load from a CDN
    )
    app.state.service = service
    app.state.pages = Pages()
    app.mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static")
    app.mount(apidocs.ASSETS, StaticFiles(directory=apidocs.ASSETS_FOLDER), name="docs-assets")
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(FileRejected, file_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)
    # Outermost but for Starlette's error middleware: nothing reads a body before it.
    app.add_middleware(RequestGuard, db=service.db, max_upload_bytes=max_upload_bytes)
    for router in ROUTERS:
        app.include_router(router)
    apidocs.declare_bearer_tokens(app)
    return app


# -- errors -------------------------------------------------------------------------------


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and request.url.path != "/openapi.json"


async def http_error(request: Request, exc: StarletteHTTPException):
    """JSON ``{"detail", "status"}`` for the API; a page (or the login page) for the console."""
    if _wants_html(request):
        if exc.status_code == 401:
            return RedirectResponse("/login", status_code=303)
        pages: Pages = request.app.state.pages
        return pages.render("error.html", None, status_code=exc.status_code, status=exc.status_code, message=exc.detail)
    return JSONResponse({"detail": exc.detail, "status": exc.status_code}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))  # fmt: skip


async def file_error(request: Request, exc: FileRejected):
    return JSONResponse({"detail": exc.message, "status": exc.status}, status_code=exc.status)


async def validation_error(request: Request, exc: RequestValidationError):
    """422 with each problem; ``errors`` echoes what the caller sent, which may hold text that
    is not UTF-8 (a lone surrogate from a JSON ``\\ud800`` escape): written as ASCII JSON,
    escapes and all, it cannot fail to encode."""
    problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
    body = {"detail": f"invalid request: {problems}", "status": 422, "errors": exc.errors()}
    return Response(json.dumps(body, default=str), status_code=422, media_type="application/json")


async def internal_error(request: Request, exc: Exception):
    """A bug answers a bare 500 JSON: the traceback goes to the log, never to the client."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error", "status": 500}, status_code=500)
