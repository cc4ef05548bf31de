"""Background workers: each thread owns one ``Library`` (and so one model) and runs jobs
from the queue in ``ServiceDB`` until stopped.

Testing hook: while the file named by ``$REELTRACE_SERVICE_HOLD_FILE`` exists, a worker
that has claimed a job waits before running it (the job stays ``running``). The test
suite uses it to kill a server with a job in flight.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace

from ..library import Library, LibraryError, WorkIdTaken
from ..media.limits import InputLimits
from ..records import ScanResult
from ..report.formats import result_public, work_public
from .db import Job, ServiceDB

log = logging.getLogger("reeltrace.service")

HOLD_ENV = "REELTRACE_SERVICE_HOLD_FILE"

ID_UNAVAILABLE = "work id {!r} is not available"
"""Said of a work id that is taken, reserved or was used before, whoever holds it."""
CONTENT_REFUSED = "this file cannot be registered (job {}); the administrator can review the refusal"
"""Said when the content is already registered by another account or outside the service:
neither the holder nor the work is named (docs/service.md, threat model)."""


def scan_matches(result: dict) -> list[dict]:
    """Match rows (one per segment) from a scan result dict."""
    rows = []
    for m in result.get("matches", []):
        for s in m["segments"]:
            rows.append({
                "work_id": m["work_id"], "title": m["title"], "owner": m["owner"], "modality": m["modality"],
                "match_score": m["score"], "query_start": s["query_start"], "query_end": s["query_end"],
                "work_start": s["work_start"], "work_end": s["work_end"], "score": s["score"],
            })  # fmt: skip
    return rows


def drop_upload(params: dict) -> None:
    """Remove a job's uploaded file and its folder (``params["uploaded"]``; a server file
    named by path stays)."""
    if params.get("uploaded"):
        try:
            os.unlink(params["path"])
            os.rmdir(os.path.dirname(params["path"]))
        except OSError:
            pass


@dataclass(frozen=True)
class Outcome:
    """What running a job gave: the result the API shows or the error, the match rows of a
    scan, and a scan's lossless record."""

    result: dict | None = None
    error: str | None = None
    matches: list[dict] | None = None
    record: dict | None = None


class Workers:
    """``count`` background threads running the queue of ``db`` over the library in ``folder``;
    each input is registered or scanned within ``limits`` (None: unbounded)."""

    def __init__(self, folder: str, db: ServiceDB, count: int = 1, model: str | None = None,
                 limits: InputLimits | None = None):  # fmt: skip
        self.folder = folder
        self.limits = limits
        self.db = db
        self.count = max(0, count)
        self.model = model
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._progress: dict[str, dict[str, float]] = {}  # running job id -> stream -> fraction decoded
        self._progress_lock = threading.Lock()

    def start(self) -> None:
        requeued, failed = self.db.requeue_running()
        if requeued or failed:
            log.warning("job queue: %d interrupted job(s) queued again, %d given up", requeued, failed)
        for i in range(self.count):
            t = threading.Thread(target=self._run, name=f"reeltrace-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def progress(self, job: Job) -> float:
        """How far ``job`` has got, in [0, 1]: 0 queued, 1 done or failed; while it runs, the
        share of its input decoded by the slower of its picture and sound chains (decoding is
        most of a job's time). A job another process runs reads 0 until it ends."""
        if job.status in ("done", "failed"):
            return 1.0
        with self._progress_lock:
            reached = self._progress.get(job.id)
            return round(min(reached.values()), 3) if reached else 0.0

    def _tracker(self, job_id: str):
        """The ``Library`` progress callback of one job."""

        def told(stream: str, seconds: float, duration: float) -> None:
            if duration > 0:
                with self._progress_lock:
                    self._progress.setdefault(job_id, {})[stream] = min(max(seconds / duration, 0.0), 0.99)

        return told

    # -- the loop ------------------------------------------------------------------------------

    def _hold(self) -> None:
        hold = os.environ.get(HOLD_ENV)
        while hold and os.path.exists(hold) and not self._stop.is_set():
            time.sleep(0.05)

    def _run(self) -> None:
        lib = Library(self.folder, model=self.model)
        try:
            while not self._stop.is_set():
                job = self.db.claim_job()
                if job is None:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                self._hold()
                if self._stop.is_set():
                    return  # left running: the next start queues it again
                try:
                    if job.kind == "register":
                        outcome = self._register(lib, job)
                    elif job.kind == "scan":
                        outcome = self._scan(lib, job)
                    else:
                        outcome = Outcome(error=f"unknown job kind {job.kind!r}")
                except Exception as err:  # a bug must not kill the worker
                    log.exception("job %s failed", job.id)
                    outcome = Outcome(error=f"internal error: {type(err).__name__}: {err}")
                finished = self.db.finish_job(job, outcome.result, outcome.error, outcome.matches, outcome.record)
                with self._progress_lock:
                    self._progress.pop(job.id, None)
                if not finished:
                    log.warning("job %s: claim lost; result discarded", job.id)
        finally:
            lib.close()

    def _register(self, lib: Library, job: Job) -> Outcome:
        p = job.params
        work_id = p.get("work_id") or None
        account = p.get("account_id")
        try:
            res = lib.register(p["path"], title=p.get("title") or None, owner=p.get("owner", ""),
                               category=p.get("category", "film"), work_id=work_id, limits=self.limits,
                               progress=self._tracker(job.id))  # fmt: skip
        except WorkIdTaken:
            self._give_up(job, work_id)
            # Said the way the API says it, whoever holds the id.
            return Outcome(error=ID_UNAVAILABLE.format(work_id))
        except LibraryError as err:
            self._give_up(job, work_id)
            return Outcome(error=str(err))
        if res.error:
            self._give_up(job, work_id)
            return Outcome(error=res.error)
        work = res.work
        if res.created or self._registered_by(job, work_id, work):
            # New, or registered by an earlier attempt of this very job that was interrupted
            # before it was recorded (the id was reserved for this job alone).
            if work_id is not None:
                self.db.work_registered(work.work_id, job.id, account)
            elif account is not None:  # a job queued before ids were reserved
                self.db.set_work_account(work.work_id, account)
            return Outcome({"work": work_public(work), "created": True})
        self._give_up(job, work_id)
        attributed = self.db.work_account(work.work_id)
        if p.get("admin") or (account is not None and attributed == account):
            return Outcome({"work": work_public(work), "created": False})
        # Someone else's work (another account's, or one registered with the CLI): the caller
        # learns neither whose nor which; the administrator can tell from the log.
        log.warning("job %s: account %s submitted the content of work %s (attributed to %s)",
                    job.id, account, work.work_id, attributed)  # fmt: skip
        return Outcome(error=CONTENT_REFUSED.format(job.id))

    def _registered_by(self, job: Job, work_id: str | None, work) -> bool:
        """Whether ``work`` (found in the library by its content) is the one this job
        registered in an attempt that was interrupted: it carries the id reserved for this
        job when the job was submitted (not in the library then), and was registered after."""
        if work_id is None or work.work_id != work_id:
            return False
        holder = self.db.work_id_holder(work_id)
        if holder is None or holder[0] != job.id or holder[1] == "deleted":
            return False
        return holder[1] == "registered" or work.registered_at >= job.created_at

    def _give_up(self, job: Job, work_id: str | None) -> None:
        """The job registers nothing: its upload goes, and its reserved id is free again."""
        drop_upload(job.params)
        if work_id is not None:
            self.db.release_work_id(work_id, job.id)

    def _scan(self, lib: Library, job: Job) -> Outcome:
        res: ScanResult = lib.scan(job.params["path"], limits=self.limits, progress=self._tracker(job.id))
        # The query is named as the user submitted it (the file on the server is in params).
        record = replace(res, query=job.name, trace=None)
        result = result_public(record)
        result["elapsed"] = round(res.elapsed, 3)
        return Outcome(result, res.error, scan_matches(result) if not res.error else None, record.to_dict())
