"""Which database a target names: a ``postgresql://`` URL (``storage.postgres``, the ``scale``
extra) or an SQLite file (``storage.sqlite``), opened behind the one interface both give."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from .sqlite import Database, DatabaseUnavailable


def is_database_url(target: str | None) -> bool:
    """Whether ``target`` names a PostgreSQL database (``postgresql://...``) rather than a file."""
    return bool(target) and target.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def open_database(
    target: str,
    schema: str,
    *,
    on_open: Callable | None = None,
    locked: Callable[[], Exception] | None = None,
    namespace: str | None = None,
    serial: bool = False,
):
    """``target``'s database with ``schema`` applied. ``locked`` (SQLite: the error when the
    write lock stays taken) and ``namespace``/``serial`` (PostgreSQL: see ``storage.postgres``)
    apply to the one kind they name. DatabaseUnavailable when psycopg is not installed."""
    if not is_database_url(target):
        return Database(target, schema, on_open=on_open, locked=locked)
    try:
        from .postgres import Database as PostgresDatabase
    except ImportError as err:
        raise DatabaseUnavailable(f"a PostgreSQL database needs psycopg: pip install 'reeltrace[scale]' ({err})") from None
    return PostgresDatabase(target, schema, on_open=on_open, namespace=namespace, serial=serial)
