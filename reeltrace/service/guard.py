"""The request guard: a pure ASGI middleware in front of the whole app that decides, from the
request's headers alone, whether any of its body may be read.

1. **Authentication before the body.** A request to ``/api/...``, or a console ``POST``
   other than the login form, without a valid token is answered 401 before one byte of its
   body is read: an anonymous client cannot make the server spool, parse or buffer anything.
   (The routes check the token again, and the role, through ``auth``.)
2. **Body limits as bytes arrive.** Uploads (``POST /api/works``, ``/api/scans``, ``/api/check``) may carry
   ``max_upload_bytes`` plus room for the form fields; every other request ``MAX_BODY``
   bytes (JSON and form bodies are small). A declared ``Content-Length`` over the limit is
   answered 413 at once; otherwise the ``http.request`` chunks are counted as the app reads
   them, and at the limit reading stops and the answer is 413, whether or not the client
   declared a length.
3. The headers every answer carries.

Why not a FastAPI ``http`` middleware or a dependency: both run only once Starlette has
built the request, and FastAPI parses (and spools to disk) a form body before the first
dependency runs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from anyio import to_thread
from starlette.requests import HTTPConnection

from .auth import request_token
from .db import ServiceDB

UPLOAD_ROUTES = ("/api/works", "/api/scans", "/api/check")
MULTIPART_SLACK = 1 << 16  # form fields and boundaries around the file
MAX_BODY = 64 << 10  # 64 KiB: any body but an upload's
OPEN_POSTS = ("/login", "/logout")  # the login form has no token yet; logging out needs none
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]

Scope = dict
Message = dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised into the app when a body passes its limit (the guard answers 413)."""


def needs_token(method: str, path: str) -> bool:
    """Whether a request must carry a valid token before its body is read."""
    if path.startswith("/api/"):
        return True
    return method not in ("GET", "HEAD", "OPTIONS") and path not in OPEN_POSTS


def body_limit(method: str, path: str, max_upload_bytes: int) -> int:
    """The most body bytes a request may send."""
    if method == "POST" and path.rstrip("/") in UPLOAD_ROUTES:
        return max_upload_bytes + MULTIPART_SLACK
    return MAX_BODY


class RequestGuard:
    """ASGI middleware: authentication from the headers and body limits (module docstring)."""

    def __init__(self, app, db: ServiceDB, max_upload_bytes: int):
        self.app = app
        self.db = db
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if needs_token(method, path) and not await self._authenticated(scope):
            if path.startswith("/api/"):
                await _answer(send, 401, "missing or invalid token", [(b"www-authenticate", b"Bearer")])
            else:
                await _redirect(send, "/login")
            return
        limit = body_limit(method, path, self.max_upload_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(send, 413, _too_large(method, path, self.max_upload_bytes))
            return

        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the 413 is (or was) the answer; whatever the app says after is dropped
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            # The app may have turned the interruption into an error of its own (FastAPI
            # answers 400 to a body it could not parse): the answer is the 413.
            await _answer(send, 413, _too_large(method, path, self.max_upload_bytes))

    async def _authenticated(self, scope: Scope) -> bool:
        token = request_token(HTTPConnection(scope))
        if not token:
            return False
        # In a worker thread: the lookup is quick, but the event loop must never wait on a
        # database lock.
        return await to_thread.run_sync(self.db.account_by_token, token) is not None


def _too_large(method: str, path: str, max_upload_bytes: int) -> str:
    if body_limit(method, path, max_upload_bytes) == MAX_BODY:
        return f"request body too large: the limit is {MAX_BODY} bytes"
    return f"upload too large: the limit is {max_upload_bytes} bytes"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server (uvicorn) refuses a malformed length itself
    return None


async def _answer(send: Send, status: int, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": detail, "status": status}).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"), *SECURITY_HEADERS, *(headers or [])],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    await send({
        "type": "http.response.start", "status": 303,
        "headers": [(b"location", location.encode()), (b"content-length", b"0"), (b"connection", b"close"),
                    *SECURITY_HEADERS],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": b""})
