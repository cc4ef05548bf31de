"""``/api/paths``: the media files a caller may register or scan by server path."""

from __future__ import annotations

from fastapi import APIRouter

from ..auth import CurrentAccount
from ..files import list_allowed
from ..state import ServiceDep

router = APIRouter(tags=["files"])


@router.get("/api/paths", summary="Media files under the server folders the admin allows")
def allowed_files(service: ServiceDep, acct: CurrentAccount):
    return {"roots": service.config.allowed_paths, "files": list_allowed(service.config.allowed_paths)}
