"""Which database a target names: a ``postgresql://`` URL (``storage.postgres``, the ``scale``
extra) or an SQLite file (``storage.sqlite``), opened behind the one interface both give."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

from .sqlite import Database, DatabaseUnavailable


class MissingExtra(DatabaseUnavailable):
    """A PostgreSQL URL was given, and psycopg (the ``scale`` extra) is not installed."""


def is_database_url(target: str | None) -> bool:
    """Whether ``target`` names a PostgreSQL database (``postgresql://...``) rather than a file."""
    return bool(target) and target.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """``url`` without its password (``user:PASSWORD@`` or ``?password=``), for messages and logs."""
    parts = urlsplit(url)
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{netloc[-1]}")
    if parts.query:
        query = [p if p.split("=", 1)[0].lower() not in SECRET_PARAMETERS else p.split("=", 1)[0] + "=***"
                 for p in parts.query.split("&")]  # fmt: skip
        parts = parts._replace(query="&".join(query))
    return urlunsplit(parts)


SECRET_PARAMETERS = ("password", "passfile", "sslpassword")
"""Connection parameters of a URL's query that ``redact`` hides."""


def open_database(
    target: str,
    schema: str,
    *,
    on_open: Callable | None = None,
    locked: Callable[[], Exception] | None = None,
    namespace: str | None = None,
    serial: bool = False,
    pool: Mapping[str, float] | None = None,
):
    """``target``'s database with ``schema`` applied. ``locked`` (SQLite: the error when the
    write lock stays taken) and ``namespace``, ``serial`` and ``pool`` (PostgreSQL: see
    ``storage.postgres``; ``pool`` holds its ``pool_size``, ``keep``, ``idle_s``) apply to
    the one kind they name. MissingExtra when psycopg is not installed."""
    if not is_database_url(target):
        return Database(target, schema, on_open=on_open, locked=locked)
    try:
        from .postgres import Database as PostgresDatabase
    except ImportError as err:
        raise MissingExtra(f"a PostgreSQL database needs psycopg: pip install 'reeltrace[scale]' ({err})") from None
    return PostgresDatabase(target, schema, on_open=on_open, namespace=namespace, serial=serial, **(pool or {}))
