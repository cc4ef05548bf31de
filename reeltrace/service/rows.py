"""Rows that the service's tables share: a match as scans, checks and monitors store it,
and the one filter builder behind every list endpoint. Its own module so that the scans'
tables (``db``) and the rights tables (``rightsdb``) both use them without importing each
other."""

from __future__ import annotations

MATCH_COLUMNS = ("work_id", "title", "owner", "modality", "match_score", "query_start", "query_end", "work_start",
                 "work_end", "score")  # fmt: skip
"""What a match row says of the match itself (the rest says where it was found, and when)."""


def insert_match(database, tx, found_in: str, account_id: int, query_name: str, m: dict, found_at: str) -> int:
    """One match row, in ``tx`` of ``database``: ``m`` (``MATCH_COLUMNS``) found in the scan
    or monitor ``found_in`` of ``account_id``, whose query is called ``query_name``; the
    row's id."""
    return database.insert(
        tx,
        "INSERT INTO matches (scan_id, scan_account_id, query_name, " + ", ".join(MATCH_COLUMNS) + ", found_at) "
        "VALUES (?, ?, ?, " + ", ".join("?" * len(MATCH_COLUMNS)) + ", ?)",
        (found_in, account_id, query_name, *(m[c] for c in MATCH_COLUMNS), found_at),
    )


def select(table: str, equal: dict, order: str, limit: int, **within: list | None) -> tuple[str, list]:
    """``SELECT *`` from ``table`` with ``column = value`` for each non-None value of
    ``equal`` and ``column IN (...)`` for each non-None list of ``within``."""
    sql, args = f"SELECT * FROM {table} WHERE 1=1", []
    for column, value in equal.items():
        if value is not None:
            sql += f" AND {column} = ?"
            args.append(value)
    for column, values in within.items():
        if values is not None:
            sql += f" AND {column} IN ({','.join('?' * len(values))})"
            args += values
    return sql + f" ORDER BY {order} LIMIT ?", args + [limit]
