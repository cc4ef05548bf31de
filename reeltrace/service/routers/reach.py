"""Reach: how far a work has travelled, from the uploads that checks found reusing it
(their matched seconds, and the views their platforms reported), per work and per
category hall, for the works' owners and admins.
"""

from __future__ import annotations

from fastapi import APIRouter, Query

from ..auth import AdminOrOwner
from ..state import ServiceDep

router = APIRouter(tags=["rights"])


@router.get("/api/works/{work_id}/reach", summary="Uploads that reuse a work, their matched seconds and views, by platform and day")
def work_reach(work_id: str, service: ServiceDep, acct: AdminOrOwner):
    service.work_for(acct, work_id)
    return {"work_id": work_id, **service.rights.reach([work_id])[work_id]}


@router.get("/api/reach", summary="Reach of each work the caller may see, in one category hall or all")
def hall_reach(service: ServiceDep, acct: AdminOrOwner, category: str | None = Query(None, max_length=100)):
    works = [w for w in service.visible_works(acct) if category is None or w.category == category]
    reach = service.rights.reach([w.work_id for w in works])
    rows = [{"work_id": w.work_id, "title": w.title, "category": w.category,
             **{k: reach[w.work_id][k] for k in ("uploads", "views", "matched_seconds")}} for w in works]  # fmt: skip
    total = {k: sum(r[k] for r in rows) for k in ("uploads", "views")}
    total["matched_seconds"] = round(sum(r["matched_seconds"] for r in rows), 3)
    return {"category": category, "works": sorted(rows, key=lambda r: -r["views"]), "total": total}
