"""Who is calling: the account of the request's token, and the role checks routes declare.

API clients send ``Authorization: Bearer <token>``; the console's browsers send the
HttpOnly cookie ``reeltrace_token`` that the login page sets. A missing or unknown token
answers 401 (console pages turn it into a redirect to ``/login``); a role that may not use
a route answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from .db import Account
from .state import ServiceDep

COOKIE = "reeltrace_token"


def request_token(request: Request) -> str | None:
    """The bearer token of the ``Authorization`` header, else the console's cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE) or None


def current(request: Request, service: ServiceDep) -> Account:
    """The caller's account (a FastAPI dependency); 401 without a valid token."""
    token = request_token(request)
    acct = service.db.account_by_token(token) if token else None
    if acct is None:
        raise HTTPException(401, "missing or invalid token", headers={"WWW-Authenticate": "Bearer"})
    return acct


CurrentAccount = Annotated[Account, Depends(current)]
"""A route parameter typed ``CurrentAccount`` receives the caller's account."""


def role(*roles: str) -> Callable[[Account], Account]:
    """A dependency giving the caller's account when it has one of ``roles``; 403 otherwise."""

    def check(acct: CurrentAccount) -> Account:
        if acct.role not in roles:
            raise HTTPException(403, f"this action needs the {' or '.join(roles)} role; you are {acct.role}")
        return acct

    return check


AdminAccount = Annotated[Account, Depends(role("admin"))]
"""The caller's account, which must be an admin's."""
AdminOrOwner = Annotated[Account, Depends(role("admin", "owner"))]
"""The caller's account, an admin's or a work owner's (those who keep the catalogue)."""
AdminOrScanner = Annotated[Account, Depends(role("admin", "scanner"))]
"""The caller's account, an admin's or a scanner's (those who submit scans)."""
