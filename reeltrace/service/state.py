"""The state one service app shares between its requests: configuration, the service
database, the job workers, the monitors, one read-only ``Library`` per thread, and the
visibility rules (who may see which work, scan, monitor and match).

Routers reach it through the ``get_service`` dependency (``request.app.state.service``).
Objects an account may not read raise 404, so that another account's ids cannot be probed.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request, UploadFile

from ..library import Library
from ..media.limits import InputLimits
from ..report.formats import work_public
from ..records import ScanResult, Segment, Work, WorkMatch, valid_work_id
from .db import Account, Job, Monitor, ServiceDB
from .files import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_UPLOAD,
    FileRejected,
    FrameCache,
    check_media,
    display_name,
    new_upload_folder,
    resolve_allowed,
    safe_name,
    save_stream,
)
from .jobs import Workers
from .monitors import MonitorConfig, Monitors
from .rights import Rights, RightsConfig

MATCH_FIELDS = (
    "scan_id", "query", "work_id", "title", "owner", "modality", "match_score", "query_start", "query_end",
    "work_start", "work_end", "score", "found_at",
)  # fmt: skip
"""A match record as the API shows it (JSON keys, CSV columns): one per segment."""


ServerPath = Annotated[str | None, Form(description="or a file under a server folder the admin allows")]
"""The form field naming a server-side file to register or scan instead of an upload
(``Service.take_input``)."""


@dataclass
class ServiceConfig:
    """What ``create_app`` was given (paths made absolute)."""

    library_folder: str
    allowed_paths: list[str] = field(default_factory=list)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    workers: int = 1
    model: str | None = None
    secure_cookie: bool = False
    limits: InputLimits = DEFAULT_LIMITS
    monitors: MonitorConfig = field(default_factory=MonitorConfig)
    rights: RightsConfig = field(default_factory=RightsConfig)
    database: str | None = None  # a postgresql:// URL; None: service.sqlite in the library folder
    job_lease_s: float | None = None  # None: db.LEASE_S


ORPHAN_AGE_S = 3600.0
"""On a shared database (several servers over one folder), an upload folder is removed as an
orphan only when nothing in it changed for this long: another server may be receiving it."""


@dataclass(frozen=True)
class FoundMatch:
    """One scan's match against one work, as a caller may see it."""

    job: Job
    index: int  # the match's place in the scan's result (the console colours works by it)

    @property
    def shown(self) -> dict:
        """The match as the API shows it."""
        return self.job.result["matches"][self.index]


def _close_quietly(lib: Library) -> None:
    """Close a library's database connections; one that fails to close is past caring."""
    try:
        lib.store.close()
    except Exception:
        pass


def match_row(row: dict) -> dict:
    """A stored match row (``ServiceDB.matches``) as the API shows it."""
    return {name: row["query_name" if name == "query" else name] for name in MATCH_FIELDS}


class Service:
    """Shared state of one app: config, service DB, workers, monitors, per-thread read-only
    libraries."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.folder = config.library_folder
        os.makedirs(self.folder, exist_ok=True)
        self.db = ServiceDB(config.database or os.path.join(self.folder, "service.sqlite"), lease_s=config.job_lease_s)
        self.root = os.path.join(self.folder, "service")
        self.works_root = os.path.join(self.root, "works")
        self.queries_root = os.path.join(self.root, "queries")
        for d in (self.works_root, self.queries_root):
            os.makedirs(d, exist_ok=True)
        self.frames = FrameCache(os.path.join(self.root, "cache"))
        self.workers = Workers(self.folder, self.db, config.workers, config.model, config.limits)
        self.monitors = Monitors(self.folder, self.db, config.monitors, config.model)
        self.rights = Rights(self.db, config.rights, config.limits, lambda: self.lib)
        self._local = threading.local()
        self._libs: list[tuple[threading.Thread, Library]] = []  # each thread's, while it lives
        self._lock = threading.Lock()
        self.drop_orphan_uploads()

    def drop_orphan_uploads(self) -> list[str]:
        """Remove upload folders that no job and no work refers to (a server that died while
        receiving or checking an upload leaves one); the folders removed. Run on start,
        before any request is served. On a shared database, other servers over the same
        folder may be receiving uploads now: only folders unchanged for ``ORPHAN_AGE_S`` go."""
        kept = {os.path.realpath(os.path.dirname(j.params["path"])) for j in self.db.jobs(limit=1 << 30)
                if j.params.get("uploaded") and j.params.get("path")}  # fmt: skip
        kept |= {os.path.realpath(os.path.dirname(w.source_path)) for w in self.lib.works()}
        removed = []
        for root in (self.works_root, self.queries_root):
            for name in os.listdir(root):
                folder = os.path.realpath(os.path.join(root, name))
                if folder not in kept and not (self.db.shared and _changed_within(folder, ORPHAN_AGE_S)):
                    shutil.rmtree(folder, ignore_errors=True)
                    if os.path.isfile(folder):
                        os.unlink(folder)
                    removed.append(folder)
        return removed

    @property
    def lib(self) -> Library:
        """This thread's Library, for catalogue reads and removals; on a check thread
        (``rights``) also for the upload's scan, whose model it loads then."""
        lib = getattr(self._local, "lib", None)
        if lib is None:
            lib = Library(self.folder, model=self.config.model)
            self._local.lib = lib
            # The server's request threads come and go (anyio ends one idle for 10 s): the
            # libraries of those that ended are closed here, or their database connections
            # would pile up for as long as the server runs.
            with self._lock:
                ended = [old for thread, old in self._libs if not thread.is_alive()]
                self._libs = [(thread, old) for thread, old in self._libs if thread.is_alive()]
                self._libs.append((threading.current_thread(), lib))
            for old in ended:
                _close_quietly(old)
        return lib

    def close(self) -> None:
        self.rights.close()
        self.monitors.close()
        self.workers.stop()
        with self._lock:
            for _, lib in self._libs:
                _close_quietly(lib)
            self._libs.clear()
        self.db.close()

    # -- visibility ----------------------------------------------------------------------

    def visible_works(self, acct: Account) -> list[Work]:
        works = self.lib.works()
        if acct.role == "admin":
            return works
        if acct.role == "owner":
            mine = {w for w, a in self.db.work_accounts().items() if a == acct.id}
            return [w for w in works if w.work_id in mine]
        return []

    def work_answer(self, acct: Account, work: Work, accounts: dict[int, str] | None = None) -> dict:
        """A work as the API shows it to ``acct``: ``account`` names the owner account it
        belongs to (None: none). The server file's path is for admins only."""
        out = work_public(work)
        held = self.db.work_account(work.work_id)
        if accounts is None:
            holder = self.db.account(held) if held is not None else None
            out["account"] = holder.name if holder else None
        else:
            out["account"] = accounts.get(held) if held is not None else None
        if acct.role != "admin":
            out.pop("source_path", None)
        return out

    def owner_accounts(self, acct: Account) -> list[Account]:
        """The owner accounts ``acct`` may give a work to: all of them for an admin, else none."""
        return [a for a in self.db.accounts() if a.role == "owner"] if acct.role == "admin" else []

    def can_see_work(self, acct: Account, work_id: str) -> bool:
        if acct.role == "admin":
            return True
        return acct.role == "owner" and self.db.work_account(work_id) == acct.id

    def work_for(self, acct: Account, work_id: str) -> Work:
        work = self.lib.work(work_id) if valid_work_id(work_id) else None
        if work is None or not self.can_see_work(acct, work_id):
            raise HTTPException(404, f"no work {work_id!r}")
        return work

    def scan_for(self, acct: Account, scan_id: str) -> Job:
        job = self.db.job(scan_id)
        if job is None or job.kind != "scan" or (acct.role != "admin" and job.account_id != acct.id):
            raise HTTPException(404, f"no scan {scan_id!r}")
        return job

    def monitor_for(self, acct: Account, monitor_id: str) -> Monitor:
        """A monitor, for its account and admins; 404 for anyone else, as for scans."""
        monitor = self.db.monitor(monitor_id)
        if monitor is None or (acct.role != "admin" and monitor.account_id != acct.id):
            raise HTTPException(404, f"no monitor {monitor_id!r}")
        return monitor

    def match_for(self, acct: Account, scan_id: str, work_id: str) -> FoundMatch:
        """A scan's match against one work, for the scan's account, admins and the work's owner."""
        job = self.db.job(scan_id)
        if job is None or job.kind != "scan" or job.result is None:
            raise HTTPException(404, f"no match of work {work_id!r} in scan {scan_id!r}")
        index = next((i for i, m in enumerate(job.result.get("matches", [])) if m["work_id"] == work_id), None)
        if index is None:
            raise HTTPException(404, f"no match of work {work_id!r} in scan {scan_id!r}")
        found = FoundMatch(job, index)
        allowed = acct.role == "admin" or job.account_id == acct.id
        if not allowed and self.can_see_work(acct, work_id):
            # The owner of the id sees the match only if it is about the work that holds the
            # id now (ids are never reused by the service; a library changed with the CLI may).
            allowed = self._same_work(found, work_id)
        if not allowed:
            raise HTTPException(404, f"no match of work {work_id!r} in scan {scan_id!r}")
        return found

    def _same_work(self, found: FoundMatch, work_id: str) -> bool:
        work = self.lib.work(work_id)
        if work is None:
            return False
        if found.job.record is not None:
            return self.match_record(found).work.content_hash == work.content_hash
        shown = found.shown  # a scan stored before records were kept: what it showed must agree
        return (shown.get("title"), shown.get("owner")) == (work.title, work.owner)

    def visible_matches(self, acct: Account, work_id=None, scan_id=None, owner=None) -> list[dict]:
        if acct.role == "admin":
            rows = self.db.matches(work_ids=[work_id] if work_id else None, scan_id=scan_id, owner=owner)
        elif acct.role == "owner":
            mine = [w for w, a in self.db.work_accounts().items() if a == acct.id]
            if work_id:
                mine = [w for w in mine if w == work_id]
            rows = self.db.matches(work_ids=mine, scan_id=scan_id, owner=owner)
        else:
            rows = self.db.matches(work_ids=[work_id] if work_id else None, scan_id=scan_id,
                                   scan_account_id=acct.id, owner=owner)  # fmt: skip
        return [match_row(r) for r in rows]

    # -- results as records ----------------------------------------------------------------

    def scan_record(self, job: Job) -> ScanResult:
        """A scan's stored result as records (for the evidence report and frame pairs).

        Scans finished before the lossless record was kept have only what the API shows:
        their segments are rebuilt from it, without speed or evidence, and each work is
        read from the library (or made from the shown fields once it is gone)."""
        if job.record is not None:
            return ScanResult.from_dict(job.record)
        shown = job.result or {"query": job.name, "duration": 0.0, "error": job.error, "matches": []}
        result = ScanResult(query=shown["query"], duration=shown.get("duration", 0.0), error=shown.get("error"))
        for m in shown.get("matches", []):
            work = self.lib.work(m["work_id"]) or Work(m["work_id"], m["title"], m["owner"], m["category"], 0.0, "", "",
                                                       "", True, False)  # fmt: skip
            segments = [Segment.from_dict(s) for s in m["segments"]]
            result.matches.append(WorkMatch(work, m["modality"], m["score"], segments))
        return result

    def match_record(self, found: FoundMatch) -> WorkMatch:
        """The record of a match that ``match_for`` found (its segments in the order shown)."""
        return self.scan_record(found.job).matches[found.index]

    # -- submissions -----------------------------------------------------------------------

    def take_input(self, upload: UploadFile | None, path: str | None, dest_root: str) -> tuple[str, str, bool]:
        """(file on the server, display name, uploaded?) from an upload or an allowed path."""
        if (upload is None or not upload.filename) == (not path):
            raise FileRejected(400, "give exactly one of 'file' (an upload) or 'path' (a server-side path)")
        if path:
            real = resolve_allowed(path, self.config.allowed_paths)
            check_media(real, self.config.limits)
            return real, path, False
        folder = new_upload_folder(dest_root)
        dest = os.path.join(folder, safe_name(upload.filename))
        try:
            save_stream(upload.file, dest, self.config.max_upload_bytes)
            check_media(dest, self.config.limits)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return dest, display_name(upload.filename), True

    def frame(self, path: str, t: float, width: int = 320) -> bytes | None:
        return self.frames.get(path, t, width)


def _changed_within(folder: str, seconds: float) -> bool:
    """Whether ``folder`` or a file in it was modified in the last ``seconds``."""
    since = time.time() - seconds
    try:
        if os.path.getmtime(folder) >= since:
            return True
        with os.scandir(folder) as entries:
            return any(e.stat(follow_symlinks=False).st_mtime >= since for e in entries)
    except OSError:
        return False


def get_service(request: Request) -> Service:
    """The app's ``Service`` (a FastAPI dependency)."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]
"""A route parameter typed ``ServiceDep`` receives the app's ``Service``."""
