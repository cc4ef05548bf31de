"""Rights management in the service: the policy that applies to a work, upload-time checks
(scan, measure each work's reuse against its policy, claim, decide), claims as each
account may see and move them, reach, and the webhooks that tell both sides of a claim
what happened to it.

Checks run on their own threads (``RightsConfig.check_workers``), each with its own
``Library`` and so its own model, not on the job queue: a platform waits for the answer
before it publishes, and a long registration queued before it must not hold it up.

Webhooks: a hook's deliveries go one at a time, in the order of their events. A delivery
is a ``POST`` of ``{"event", "claim", "sent_at"}`` as JSON with
``X-Reeltrace-Event``, ``X-Reeltrace-Delivery``, ``X-Reeltrace-Timestamp`` and
``X-Reeltrace-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the hook's
secret>`` (the timestamp inside the signature, so that a captured delivery cannot be
replayed later with a fresh one). Tried 3 times (after 1 s and 5 s); a URL is checked
like a monitor's source: public hosts only, unless the admin allows the network
(``--allow-source-network``). Who receives a claim's events: the webhooks of the work's
owner account, of the account that checked the upload, and of admins.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from fastapi import HTTPException

from ..library import Library
from ..media.limits import InputLimits
from ..records import ScanResult
from ..report.formats import result_public
from ..rights.claims import APPLIES, NEEDS_REASON, OWNER, UPLOADER, TransitionRefused, allowed_actions
from ..rights.policy import DEFAULT_POLICY, Policy, Reuse, strictest
from .db import RECORD_KEY, Account, ServiceDB
from .jobs import drop_upload, scan_matches
from .rightsdb import Claim, NewClaim, Upload, now

log = logging.getLogger("reeltrace.service")

DAY = 86400.0


@dataclass(frozen=True)
class RightsConfig:
    response_window_s: float = 30 * DAY  # a disputed or appealed claim the owner leaves unanswered is released after this
    check_workers: int = 1  # threads answering upload-time checks, each with its own model
    sweep_s: float = 30.0  # how often claims past their deadline are looked for
    webhook_timeout_s: float = 10.0
    webhook_attempts: int = 3


class Rights:
    """The rights side of one service app."""

    def __init__(self, db: ServiceDB, config: RightsConfig, limits: InputLimits | None, library: Callable[[], Library]):
        """``library()``: the calling thread's ``Library`` (the service's, one per thread: a
        check thread's loads its own model at its first scan)."""
        self.db, self.tables, self.config, self.limits = db, db.rights, config, limits
        self._library = library
        self._checks = ThreadPoolExecutor(max(1, config.check_workers), thread_name_prefix="reeltrace-check")
        self._deliveries = ThreadPoolExecutor(2, thread_name_prefix="reeltrace-webhook")
        # Each hook's deliveries wait here, in event order, for the one task that sends them.
        self._outbox: dict[str, deque[tuple[dict, str, bytes]]] = {}
        self._outbox_lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def start(self) -> None:
        self._sweeper = threading.Thread(target=self._sweep, name="reeltrace-claims-clock", daemon=True)
        self._sweeper.start()

    def close(self) -> None:
        self._stop.set()
        self._checks.shutdown(wait=True, cancel_futures=True)
        self._deliveries.shutdown(wait=False, cancel_futures=True)

    # -- policies ------------------------------------------------------------------------

    def policy_for(self, work_id: str) -> tuple[Policy, str]:
        """The policy that applies to a work, and where it comes from: the work's own, its
        owner account's default, else ``DEFAULT_POLICY``."""
        own = self.tables.policy(f"work:{work_id}")
        if own is not None:
            return own, "work"
        holder = self.db.work_account(work_id)
        default = self.tables.policy(f"account:{holder}") if holder is not None else None
        if default is not None:
            return default, "account"
        return DEFAULT_POLICY, "default"

    # -- checks --------------------------------------------------------------------------

    def check(self, acct: Account, path: str, name: str, uploaded: bool, upload: Upload) -> dict:
        """Scan an upload now (on a check thread) and decide; the answer of ``POST /api/check``.

        An upload that cannot be scanned answers 422 with the scan's one-line error, and
        nothing is recorded: "allow" would publish what nobody could look at. An uploaded
        file is kept only when the upload reuses a registered work (its frames are the
        claim's evidence); platforms check every upload, and most reuse nothing."""
        params = {"path": path, "uploaded": uploaded, "found_at": upload.url or None, "check": True}
        try:
            result: ScanResult = self._checks.submit(lambda: self._library().scan(path, limits=self.limits)).result()
        except BaseException:
            drop_upload(params)
            raise
        if result.error:
            drop_upload(params)
            raise HTTPException(422, f"cannot check this upload: {result.error}")
        record = replace(result, query=name, trace=None)
        shown = result_public(record)
        reuses = [Reuse.of(m, record.duration) for m in record.matches]
        earlier = self.tables.earlier_claims(acct.id, upload)
        new: list[NewClaim] = []
        actions: list[str] = []
        for reuse in reuses:
            before = earlier.get(reuse.work_id)
            if before is not None:  # checked before: that claim stands, in whatever state it reached
                if before.state in APPLIES:
                    actions.append(before.action)
                continue
            policy, source = self.policy_for(reuse.work_id)
            if not policy.met_by(reuse):
                continue
            state = "in_review" if policy.needs_review(reuse) else "active"
            new.append(NewClaim(reuse.work_id, self.db.work_account(reuse.work_id), state, policy.action, policy, source, reuse))
            if state == "active":
                actions.append(policy.action)
        decision = strictest(actions)
        job_id = "s-" + secrets.token_hex(6)
        job = {"id": job_id, "account_id": acct.id, "name": name, "status": "done",
               "params": params,
               "result": {**shown, "elapsed": round(result.elapsed, 3), RECORD_KEY: record.to_dict()},
               "created_at": now()}  # fmt: skip
        if not reuses:
            drop_upload(params)
            params["kept"] = False
        ids = self.tables.record_check(job, scan_matches(shown), upload, record.duration, decision, reuses, new)
        claims = [self.tables.claim(i) for i in ids]
        for claim in claims:
            self.tell("claim.created", claim)
        answer_claims = [self.public(c, acct) for c in claims]
        reused = {r.work_id for r in reuses}
        answer_claims += [self.public(c, acct) for c in earlier.values() if c.work_id in reused]
        return {"decision": decision, "scan_id": job_id, "claims": answer_claims, "result": shown}

    # -- claims --------------------------------------------------------------------------

    def side(self, acct: Account, claim: Claim) -> str | None:
        """How ``acct`` stands to ``claim``: ``admin``, ``OWNER`` (of its work), ``UPLOADER``
        (it checked the upload), or None (it may not see the claim)."""
        if acct.role == "admin":
            return "admin"
        if acct.role == "owner" and self.db.work_account(claim.work_id) == acct.id:
            return OWNER  # the work's owner now: a work moved to another account takes its claims along
        if acct.role == "scanner" and claim.scanner_account_id == acct.id:
            return UPLOADER
        return None

    def claim_for(self, acct: Account, claim_id: str) -> Claim:
        claim = self.tables.claim(claim_id) if isinstance(claim_id, str) and len(claim_id) <= 64 else None
        if claim is None or self.side(acct, claim) is None:
            raise HTTPException(404, f"no claim {claim_id!r}")
        return claim

    def visible_claims(self, acct: Account, work_id: str | None = None, state: str | None = None,
                       upload_id: str | None = None, scan_id: str | None = None) -> list[Claim]:  # fmt: skip
        filters = {"state": state, "upload_id": upload_id, "scan_id": scan_id,
                   "work_ids": [work_id] if work_id else None}  # fmt: skip
        if acct.role == "admin":
            return self.tables.claims(**filters)
        if acct.role == "owner":
            mine = [w for w, a in self.db.work_accounts().items() if a == acct.id]
            if work_id:
                mine = [w for w in mine if w == work_id]
            return self.tables.claims(**{**filters, "work_ids": mine})
        return self.tables.claims(**filters, scanner_account_id=acct.id)

    def act(self, acct: Account, claim_id: str, action: str, reason: str) -> Claim:
        """``action`` on a claim the caller may see: 403 for an action of the other side, 409
        for one its state does not allow, 400 for a dispute or appeal without a reason."""
        reason = " ".join((reason or "").split())[:2000]
        self.claim_for(acct, claim_id)  # 404 before anything is said of the request
        if action in NEEDS_REASON and not reason:
            raise HTTPException(400, f"a {action} must give a reason")
        for _ in range(5):  # another answer may land between the read and the write
            claim = self.claim_for(acct, claim_id)
            side = self.side(acct, claim)
            try:
                changed = self.tables.act(claim, action, side, acct.name, reason, self.config.response_window_s)
            except TransitionRefused as err:
                raise HTTPException(err.status, str(err)) from None
            if changed is not None:
                self.tell(f"claim.{action}", changed)
                return changed
        raise HTTPException(409, f"claim {claim_id} is changing; try again")

    def expire(self) -> list[Claim]:
        released = self.tables.expire()
        for claim in released:
            self.tell("claim.expired", claim)
        return released

    def _sweep(self) -> None:
        while not self._stop.wait(self.config.sweep_s):
            try:
                self.expire()
            except Exception:  # the clock must go on
                log.exception("claims past their deadline could not be released")

    def public(self, claim: Claim, acct: Account | None = None, history: bool = False) -> dict:
        """A claim as the API shows it (with the actions ``acct`` may take, and its history)."""
        work = self._library().work(claim.work_id)
        upload = self.tables.upload(claim.scan_id) or {}
        out = {
            "id": claim.id, "work_id": claim.work_id, "title": work.title if work else "", "owner": work.owner if work else "",
            "state": claim.state, "action": claim.action, "policy": claim.policy.to_dict(), "policy_source": claim.policy_source,
            "reuse": {"seconds": round(claim.reuse.seconds, 3), "query_share": round(claim.reuse.query_share, 4),
                      "work_seconds": round(claim.reuse.work_seconds, 3), "work_share": round(claim.reuse.work_share, 4),
                      "score": round(claim.reuse.score, 4), "modalities": list(claim.reuse.modalities)},
            "scan_id": claim.scan_id,
            "upload": {k: upload.get(k) for k in ("platform", "upload_id", "uploader", "url", "views", "published_at",
                                                  "checked_at", "duration")},
            "created_at": claim.created_at, "updated_at": claim.updated_at, "deadline": claim.deadline,
        }  # fmt: skip
        if acct is not None:
            side = self.side(acct, claim)
            out["actions"] = allowed_actions(claim.state, side) if side else []
        if history:
            out["history"] = [c.to_dict() for c in self.tables.history(claim.id)]
        return out

    # -- reach ---------------------------------------------------------------------------

    def reach(self, work_ids: list[str]) -> dict[str, dict]:
        """Per work: the uploads that reuse it, their matched seconds and views, by platform
        and by day (of publication, else of the check)."""
        out = {w: _empty_reach() for w in work_ids}
        for row in self.tables.reach_rows(work_ids):
            day = (row["published_at"] or row["checked_at"])[:10]
            seconds = row["reuse"]["seconds"]
            for bucket in (out[row["work_id"]], out[row["work_id"]]["by_platform"].setdefault(row["platform"] or "", _count()),
                           out[row["work_id"]]["by_day"].setdefault(day, _count())):  # fmt: skip
                bucket["uploads"] += 1
                bucket["views"] += row["views"]
                bucket["matched_seconds"] = round(bucket["matched_seconds"] + seconds, 3)
        return out

    # -- webhooks ------------------------------------------------------------------------

    def tell(self, event: str, claim: Claim) -> None:
        """Deliver ``event`` about ``claim`` to the webhooks of those who may see it."""
        accounts = {claim.scanner_account_id}
        holder = self.db.work_account(claim.work_id)
        if holder is not None:
            accounts.add(holder)
        accounts |= {a.id for a in self.db.accounts() if a.role == "admin"}
        for hook in self.tables.webhooks(sorted(accounts)):
            acct = self.db.account(hook["account_id"])
            if acct is None:
                continue
            body = json.dumps({"event": event, "claim": self.public(claim, acct), "sent_at": now()}).encode()
            self._post(hook, event, body)

    def _post(self, hook: dict, event: str, body: bytes) -> None:
        """Queue a delivery behind the hook's earlier ones. A hook's deliveries go one at a
        time, in the order of their events: a receiver must not see a claim disputed before
        it sees it created (two deliveries in flight at once arrived the other way round)."""
        with self._outbox_lock:
            queued = self._outbox.get(hook["id"])
            if queued is not None:  # its sender is running and takes this one too
                queued.append((hook, event, body))
                return
            self._outbox[hook["id"]] = deque([(hook, event, body)])
        try:
            self._deliveries.submit(self._send_queued, hook["id"])
        except RuntimeError:  # shutting down
            with self._outbox_lock:
                self._outbox.pop(hook["id"], None)

    def _send_queued(self, hook_id: str) -> None:
        """Deliver a hook's queued events in order until none is left (a delivery that fails
        all its tries is dropped, and the next one goes)."""
        while True:
            with self._outbox_lock:
                queued = self._outbox[hook_id]
                if not queued or self._stop.is_set():
                    del self._outbox[hook_id]
                    return
                hook, event, body = queued.popleft()
            self._deliver(hook, event, body)

    def _deliver(self, hook: dict, event: str, body: bytes) -> bool:
        delivery = secrets.token_hex(8)
        for attempt in range(self.config.webhook_attempts):
            if attempt:
                if self._stop.wait(1.0 if attempt == 1 else 5.0):
                    return False
            stamp = str(int(time.time()))
            request = urllib.request.Request(hook["url"], data=body, method="POST", headers={
                "Content-Type": "application/json", "User-Agent": "reeltrace-webhook", "X-Reeltrace-Event": event,
                "X-Reeltrace-Delivery": delivery, "X-Reeltrace-Timestamp": stamp,
                "X-Reeltrace-Signature": sign(hook["secret"], stamp, body)})  # fmt: skip
            try:
                with _NO_REDIRECTS.open(request, timeout=self.config.webhook_timeout_s) as answer:
                    if 200 <= answer.status < 300:
                        return True
            except (urllib.error.URLError, OSError, ValueError) as err:
                log.warning("webhook %s: delivery %s failed: %s", hook["id"], delivery, err)
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook's answer may not send the server elsewhere (to a host its URL check would refuse)."""

    def redirect_request(self, *args, **kwargs):
        return None


_NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Reeltrace-Signature`` a receiver computes to check a delivery."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _count() -> dict:
    return {"uploads": 0, "views": 0, "matched_seconds": 0.0}


def _empty_reach() -> dict:
    return {**_count(), "by_platform": {}, "by_day": {}}


def parse_time(text: str) -> str:
    """An ISO 8601 time as UTC ISO text; ValueError for anything else."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
