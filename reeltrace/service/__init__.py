"""reeltrace's HTTP service and web console.

``create_app(library_folder, allowed_paths)`` builds the FastAPI application;
``serve(library_folder, host, port)`` bootstraps the admin account and runs it with uvicorn;
``bootstrap_admin(library_folder)`` is the first-start account creation on its own.
See docs/service.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from ..media.limits import InputLimits
from ..storage.databases import is_database_url
from .db import ServiceDB, ServiceError

ADMIN_TOKEN_ENV = "REELTRACE_ADMIN_TOKEN"


def bootstrap_admin(library_folder: str, token: str | None = None, name: str = "admin",
                    database: str | None = None) -> str | None:  # fmt: skip
    """Make sure the library's service has an admin account.

    With ``token`` (default: ``$REELTRACE_ADMIN_TOKEN``), the account ``name`` is created
    with that token, or its token is set to it, and the token is returned. Without one, an
    admin account with a fresh token is created on first start only, and that token is
    returned (show it once: only its hash is stored); later starts return None.
    ``database``: the service's ``postgresql://`` URL (default: service.sqlite in the folder).
    Servers sharing a database may start at once: the one that creates the account wins.
    """
    token = token or os.environ.get(ADMIN_TOKEN_ENV) or None
    os.makedirs(library_folder, exist_ok=True)
    db = ServiceDB(database or os.path.join(library_folder, "service.sqlite"))
    try:
        if token:
            for _ in range(2):  # a second pass: another server created the account meanwhile
                existing = db.account_by_name(name)
                if existing is None:
                    try:
                        db.create_account(name, "admin", token=token)
                    except ServiceError:
                        continue
                else:
                    if existing.role != "admin":
                        raise ValueError(f"account {name!r} exists and is not an admin")
                    db.set_token(existing.id, token)
                return token
            raise ValueError(f"account {name!r} could not be created nor found")
        if db.has_admin():
            return None
        try:
            _, new = db.create_account(name, "admin")
        except ServiceError:  # another server sharing the database created it first (and showed its token)
            return None
        return new
    finally:
        db.close()


class ServeError(Exception):
    """The service cannot start: one line for the user (``usage``: a wrong argument, else
    the machine's state, e.g. the port is taken)."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        self.usage = usage


def check_start(host: str, port: int, allowed_paths: list[str], database: str | None = None) -> None:
    """ServeError before anything is created or printed: an ``--allow-path`` that is not a
    folder, a ``--database`` that is not a ``postgresql://`` URL or cannot be reached (or
    psycopg missing), or ``host:port`` already taken (the socket is bound and closed again)."""
    for folder in allowed_paths:
        if not os.path.isdir(folder):
            raise ServeError(f"--allow-path {folder}: no such folder", usage=True)
    if database is not None:
        if not is_database_url(database):
            raise ServeError("--database: give a PostgreSQL URL, postgresql://USER@HOST:PORT/DATABASE", usage=True)
        try:
            import psycopg_pool  # noqa: F401

            from ..storage.postgres import connect_check
        except ImportError:
            raise ServeError("--database needs psycopg and psycopg_pool: pip install 'reeltrace[scale]'", usage=True) from None
        from ..storage.sqlite import DatabaseUnavailable

        try:
            connect_check(database)
        except DatabaseUnavailable as err:
            raise ServeError(f"--database: {err}") from None
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ServeError(f"cannot listen on {host}:{port}: {err.strerror or err}", usage=True) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            probe.bind(address)
        except OSError as err:
            raise ServeError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def serve(
    library_folder: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    allowed_paths: list[str] | None = None,
    workers: int = 1,
    max_upload_bytes: int | None = None,
    admin_token: str | None = None,
    model: str | None = None,
    log_level: str = "info",
    secure_cookie: bool = False,
    max_duration_s: float | None = None,
    max_pixels: int | None = None,
    max_job_s: float | None = None,
    max_monitors: int | None = None,
    max_monitors_per_account: int | None = None,
    sse_keepalive_s: float | None = None,
    source_networks: list[str] | None = None,
    claim_response_days: float | None = None,
    check_workers: int | None = None,
    database: str | None = None,
    job_lease_s: float | None = None,
    out=None,
) -> None:
    """Run the service (blocking) on ``host:port`` over ``library_folder``.

    On first start an admin account is created and its token printed once to ``out``
    (default: standard error); ``admin_token`` or ``$REELTRACE_ADMIN_TOKEN`` sets it instead.
    ServeError, before anything is created or printed, for an ``allowed_paths`` entry that
    is not a folder or a port already taken (``check_start``).
    ``max_duration_s``, ``max_pixels``, ``max_job_s``: what one input may cost (None: the
    defaults of ``files.DEFAULT_LIMITS``). ``max_monitors``, ``max_monitors_per_account``,
    ``sse_keepalive_s``, ``source_networks``: see ``monitors.MonitorConfig`` (None: its defaults).
    ``claim_response_days``, ``check_workers``: see ``rights.RightsConfig`` (None: its defaults).
    ``database``: a ``postgresql://`` URL for the service's tables, shared by every server
    given it (docs/scale-out.md); None: service.sqlite in the library folder. ``job_lease_s``:
    how long a job of a server that stopped answering stays its (``db.LEASE_S``).
    ServeError too when the database cannot be reached.
    """
    import uvicorn

    from .app import create_app
    from .files import DEFAULT_MAX_UPLOAD

    out = out or sys.stderr
    from ..storage.sqlite import DatabaseUnavailable

    check_start(host, port, allowed_paths or [], database)
    from ..library import LIBRARY_FAULTS, Library

    try:  # a library that cannot be opened (its catalogue's database down, say) is one line, not a traceback
        Library(library_folder, model=model).close()
    except LIBRARY_FAULTS as err:
        raise ServeError(f"--library: {' '.join(str(err).split())}") from None
    try:
        token = bootstrap_admin(library_folder, admin_token, database=database)
    except DatabaseUnavailable as err:
        raise ServeError(f"--database: {err}") from None
    if token and not (admin_token or os.environ.get(ADMIN_TOKEN_ENV)):
        print(f"reeltrace: created admin account; its token (shown once, keep it safe):\n{token}", file=out, flush=True)
    elif token is None:
        print(f"reeltrace: the admin token was shown on the first start; to set a new one, start with "
              f"{ADMIN_TOKEN_ENV}=<token>", file=out, flush=True)  # fmt: skip
    app = create_app(
        library_folder,
        allowed_paths or [],
        max_upload_bytes=max_upload_bytes or DEFAULT_MAX_UPLOAD,
        workers=workers,
        model=model,
        secure_cookie=secure_cookie,
        limits=limits(max_duration_s, max_pixels, max_job_s),
        monitors=monitor_config(max_monitors, max_monitors_per_account, sse_keepalive_s, source_networks),
        rights=rights_config(claim_response_days, check_workers),
        database=database,
        job_lease_s=job_lease_s,
    )
    shared = f" (service database {app.state.service.db.path})" if database else ""
    print(f"reeltrace: serving {os.path.abspath(library_folder)}{shared} on http://{host}:{port}/", file=out, flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10)


def limits(max_duration_s: float | None = None, max_pixels: int | None = None, max_job_s: float | None = None):
    """The service's ``InputLimits``: each bound given, else its default (``files.DEFAULT_LIMITS``)."""
    from .files import DEFAULT_LIMITS

    return InputLimits(
        max_duration_s=DEFAULT_LIMITS.max_duration_s if max_duration_s is None else max_duration_s,
        max_pixels=DEFAULT_LIMITS.max_pixels if max_pixels is None else max_pixels,
        max_seconds=DEFAULT_LIMITS.max_seconds if max_job_s is None else max_job_s,
    )


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    """The per-input limits of ``serve`` (shared with ``reeltrace serve``)."""
    p.add_argument("--max-duration-s", type=float, default=None,
                   help="longest media accepted, in seconds (default 14400: 4 h)")  # fmt: skip
    p.add_argument("--max-pixels", type=int, default=None,
                   help="largest picture accepted, width x height (default 9437184: 4096x2304)")  # fmt: skip
    p.add_argument("--max-job-s", type=float, default=None,
                   help="longest time one job may spend decoding its input, in seconds (default 1800)")  # fmt: skip


def monitor_config(max_running: int | None = None, max_per_account: int | None = None,
                   keepalive_s: float | None = None, source_networks: list[str] | None = None):  # fmt: skip
    """The service's ``MonitorConfig``: each value given, else its default."""
    from .monitors import MonitorConfig

    given = {"max_running": max_running, "max_per_account": max_per_account, "keepalive_s": keepalive_s,
             "source_networks": tuple(source_networks) if source_networks else None}  # fmt: skip
    return MonitorConfig(**{k: v for k, v in given.items() if v is not None})


def add_monitor_arguments(p: argparse.ArgumentParser) -> None:
    """The live-stream monitor options of ``serve``."""
    p.add_argument("--max-monitors", type=int, default=None,
                   help="live-stream monitors running at once on the server (default 16)")  # fmt: skip
    p.add_argument("--max-monitors-per-account", type=int, default=None,
                   help="live-stream monitors running at once per account (default 4)")  # fmt: skip
    p.add_argument("--sse-keepalive-s", type=float, default=None,
                   help="seconds of silence after which an event stream sends a keep-alive comment (default 15)")  # fmt: skip
    p.add_argument("--allow-source-network", action="append", default=[], metavar="CIDR", type=_network,
                   help="a network (e.g. 10.1.0.0/16, 239.0.0.0/8) whose hosts monitors may read and webhooks "
                        "may call besides public addresses (repeatable; default: public addresses only)")  # fmt: skip


def rights_config(claim_response_days: float | None = None, check_workers: int | None = None):
    """The service's ``RightsConfig``: each value given, else its default."""
    from .rights import DAY, RightsConfig

    given = {"response_window_s": claim_response_days * DAY if claim_response_days is not None else None,
             "check_workers": check_workers}  # fmt: skip
    return RightsConfig(**{k: v for k, v in given.items() if v is not None})


def add_rights_arguments(p: argparse.ArgumentParser) -> None:
    """The rights-management options of ``serve``."""
    p.add_argument("--claim-response-days", type=float, default=None,
                   help="days an owner has to answer a dispute or an appeal before the claim is released (default 30)")  # fmt: skip
    p.add_argument("--check-workers", type=int, default=None,
                   help="threads answering upload-time checks (POST /api/check), each with its own model (default 1)")  # fmt: skip


def add_database_arguments(p: argparse.ArgumentParser) -> None:
    """Where ``serve`` keeps accounts, jobs, matches and claims (docs/scale-out.md)."""
    p.add_argument("--database", metavar="URL", default=None,
                   help="the service's tables in PostgreSQL (postgresql://USER@HOST:PORT/DB; a password from "
                        "PGPASSWORD or ~/.pgpass), shared by every server given it: several processes, one job "
                        "queue (default: service.sqlite in the library folder)")  # fmt: skip
    p.add_argument("--job-lease-s", type=float, default=None,
                   help="with --database: seconds after which a job whose server stopped renewing its lease runs "
                        "again elsewhere (default 60)")  # fmt: skip


def _network(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a network: {text!r} (e.g. 10.1.0.0/16)") from None


def create_app(*args, **kwargs):
    """See ``reeltrace.service.app.create_app``."""
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["ADMIN_TOKEN_ENV", "ServeError", "add_database_arguments", "add_limit_arguments", "add_monitor_arguments", "add_rights_arguments",
           "bootstrap_admin", "check_start", "create_app", "limits", "monitor_config", "rights_config", "serve"]
