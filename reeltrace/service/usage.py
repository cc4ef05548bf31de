"""How much of a work the scans found reused, from its match rows."""

from __future__ import annotations

from ..intervals import union_length


def work_usage(rows: list[dict], duration: float) -> dict:
    """Videos a work was found in, seconds matched, share of the work reused, first/last seen."""
    if not rows:
        return {"videos": 0, "matched_seconds": 0.0, "reused_fraction": 0.0, "first_seen": None, "last_seen": None}
    covered = union_length((r["work_start"], r["work_end"]) for r in rows)
    return {
        "videos": len({r["scan_id"] for r in rows}),
        "matched_seconds": round(sum(r["query_end"] - r["query_start"] for r in rows), 2),
        "reused_fraction": round(min(covered / duration, 1.0), 4) if duration > 0 else 0.0,
        "first_seen": min(r["found_at"] for r in rows),
        "last_seen": max(r["found_at"] for r in rows),
    }
