"""The service's rights tables: policies, checked uploads and what they reuse, claims with
their history, and webhooks. They live in ``service.sqlite`` (or the service's PostgreSQL
database) beside the other tables (``db.ServiceDB`` applies ``SCHEMA``), so that an
upload-time check writes its scan, its upload, its reuses and its claims in one
transaction: a check either happened whole or not at all.

Claims change state only through ``RightsTables.act`` and ``expire``, each a guarded
update (``WHERE state = <the state the change was decided from>``) in the transaction
that writes its history line: two answers to one dispute cannot both win.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..rights.claims import AWAITING_OWNER, EXPIRED, Change, next_state
from ..rights.policy import Policy, Reuse
from .rows import insert_match, select

SCHEMA = """
CREATE TABLE IF NOT EXISTS policies (
    scope TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    scan_id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL,
    platform TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    uploader TEXT NOT NULL,
    url TEXT NOT NULL,
    views INTEGER NOT NULL,
    published_at TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    duration REAL NOT NULL,
    decision TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_key ON uploads(account_id, platform, upload_id);
CREATE TABLE IF NOT EXISTS reuses (
    scan_id TEXT NOT NULL,
    work_id TEXT NOT NULL,
    reuse TEXT NOT NULL,
    PRIMARY KEY (scan_id, work_id)
);
CREATE INDEX IF NOT EXISTS reuses_work ON reuses(work_id);
CREATE TABLE IF NOT EXISTS claims (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    work_id TEXT NOT NULL,
    owner_account_id INTEGER,
    scan_id TEXT NOT NULL,
    scanner_account_id INTEGER NOT NULL,
    platform TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    state TEXT NOT NULL,
    action TEXT NOT NULL,
    policy TEXT NOT NULL,
    policy_source TEXT NOT NULL,
    reuse TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deadline TEXT
);
CREATE INDEX IF NOT EXISTS claims_work ON claims(work_id, state);
CREATE INDEX IF NOT EXISTS claims_owner ON claims(owner_account_id, state);
CREATE INDEX IF NOT EXISTS claims_scanner ON claims(scanner_account_id, state);
CREATE INDEX IF NOT EXISTS claims_upload ON claims(scanner_account_id, platform, upload_id, work_id);
CREATE INDEX IF NOT EXISTS claims_deadline ON claims(state, deadline);
CREATE TABLE IF NOT EXISTS claim_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    claim_id TEXT NOT NULL,
    change TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS claim_history_claim ON claim_history(claim_id, seq);
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""

CLAIM_PREFIX = "c-"
WEBHOOK_PREFIX = "h-"
CLOCK = "reeltrace"
"""The actor of what no account did: a claim made by a check, or released by the clock."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def later(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Upload:
    """What a platform says of an upload it checks (``POST /api/check``'s metadata)."""

    platform: str = ""
    upload_id: str = ""
    uploader: str = ""
    url: str = ""
    views: int = 0
    published_at: str = ""

    def to_dict(self) -> dict:
        return {"platform": self.platform, "upload_id": self.upload_id, "uploader": self.uploader, "url": self.url,
                "views": self.views, "published_at": self.published_at}  # fmt: skip


@dataclass(frozen=True)
class Claim:
    id: str
    work_id: str
    owner_account_id: int | None  # the work's owner account when the claim was made (the work's owner now decides)
    scan_id: str
    scanner_account_id: int
    platform: str
    upload_id: str
    state: str
    action: str
    policy: Policy
    policy_source: str  # "work" | "account" | "default": where the policy came from
    reuse: Reuse
    created_at: str
    updated_at: str
    deadline: str | None  # when a disputed or appealed claim is released unless the owner answers


@dataclass(frozen=True)
class NewClaim:
    """A claim a check is about to make."""

    work_id: str
    owner_account_id: int | None
    state: str
    action: str
    policy: Policy
    policy_source: str
    reuse: Reuse


def _claim(row) -> Claim:
    return Claim(row["id"], row["work_id"], row["owner_account_id"], row["scan_id"], row["scanner_account_id"],
                 row["platform"], row["upload_id"], row["state"], row["action"], Policy.from_dict(json.loads(row["policy"])),
                 row["policy_source"], _reuse(row["reuse"]), row["created_at"], row["updated_at"], row["deadline"])  # fmt: skip


def _reuse(text: str) -> Reuse:
    data = json.loads(text)
    data["modalities"] = tuple(data["modalities"])
    return Reuse.from_dict(data)


def _history(tx, claim_id: str, change: Change) -> None:
    tx.execute("INSERT INTO claim_history (claim_id, change) VALUES (?, ?)", (claim_id, json.dumps(change.to_dict())))


class RightsTables:
    """Reads and writes of the rights tables over the service's ``Database``."""

    def __init__(self, database):
        self.database = database

    # -- policies ------------------------------------------------------------------------

    def policy(self, scope: str) -> Policy | None:
        row = self.database.execute("SELECT policy FROM policies WHERE scope = ?", (scope,)).fetchone()
        return Policy.from_dict(json.loads(row[0])) if row else None

    def set_policy(self, scope: str, policy: Policy | None, by: str) -> None:
        """Set (or with None, remove) the policy of ``scope``: ``work:<id>`` or ``account:<id>``."""
        with self.database.transaction() as tx:
            if policy is None:
                tx.execute("DELETE FROM policies WHERE scope = ?", (scope,))
            else:
                tx.execute("INSERT INTO policies (scope, policy, updated_at, updated_by) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT(scope) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at, "
                           "updated_by = excluded.updated_by", (scope, json.dumps(policy.to_dict()), now(), by))  # fmt: skip

    # -- checks --------------------------------------------------------------------------

    def earlier_claims(self, scanner_account_id: int, upload: Upload) -> dict[str, Claim]:
        """The claims earlier checks of the same upload (same account, platform and id) made,
        by work: a check again (the upload was edited, or its views changed) finds them and
        makes no second claim, whatever state they reached."""
        if not upload.upload_id:
            return {}
        rows = self.database.execute("SELECT * FROM claims WHERE scanner_account_id = ? AND platform = ? AND upload_id = ? "
                                     "ORDER BY seq", (scanner_account_id, upload.platform, upload.upload_id))  # fmt: skip
        return {r["work_id"]: _claim(r) for r in rows}

    def record_check(self, job_row: dict, match_rows: list[dict], upload: Upload, duration: float, decision: str,
                     reuses: list[Reuse], claims: list[NewClaim]) -> list[str]:  # fmt: skip
        """One check, whole: its scan (a finished scan job with its match rows, as
        ``/api/scans`` shows it), its upload, its reuses and its new claims with their first
        history line; the claims' ids."""
        ids = []
        at = now()
        with self.database.transaction() as tx:
            tx.execute("INSERT INTO jobs (id, kind, account_id, name, status, params, result, attempts, created_at, "
                       "started_at, finished_at) VALUES (?, 'scan', ?, ?, ?, ?, ?, 1, ?, ?, ?)",
                       (job_row["id"], job_row["account_id"], job_row["name"], job_row["status"], json.dumps(job_row["params"]),
                        json.dumps(job_row["result"]), job_row["created_at"], job_row["created_at"], at))  # fmt: skip
            for m in match_rows:
                insert_match(self.database, tx, job_row["id"], job_row["account_id"], job_row["name"], m, at)
            u = upload
            tx.execute("INSERT INTO uploads (scan_id, account_id, platform, upload_id, uploader, url, views, published_at, "
                       "checked_at, duration, decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (job_row["id"], job_row["account_id"], u.platform, u.upload_id, u.uploader, u.url, u.views,
                        u.published_at, at, duration, decision))  # fmt: skip
            for r in reuses:
                tx.execute("INSERT INTO reuses (scan_id, work_id, reuse) VALUES (?, ?, ?)",
                           (job_row["id"], r.work_id, json.dumps(r.to_dict())))  # fmt: skip
            for c in claims:
                claim_id = CLAIM_PREFIX + secrets.token_hex(6)
                tx.execute("INSERT INTO claims (id, work_id, owner_account_id, scan_id, scanner_account_id, platform, "
                           "upload_id, state, action, policy, policy_source, reuse, created_at, updated_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (claim_id, c.work_id, c.owner_account_id, job_row["id"], job_row["account_id"], u.platform,
                            u.upload_id, c.state, c.action, json.dumps(c.policy.to_dict()), c.policy_source,
                            json.dumps(c.reuse.to_dict()), at, at))  # fmt: skip
                why = "score under the policy's review_below" if c.state == "in_review" else "the match meets the policy"
                _history(tx, claim_id, Change(at, CLOCK, "create", "", c.state, why))
                ids.append(claim_id)
        return ids

    def upload(self, scan_id: str) -> dict | None:
        row = self.database.execute("SELECT * FROM uploads WHERE scan_id = ?", (scan_id,)).fetchone()
        return dict(row) if row else None

    # -- claims --------------------------------------------------------------------------

    def claim(self, claim_id: str) -> Claim | None:
        row = self.database.execute("SELECT * FROM claims WHERE id = ?", (claim_id,)).fetchone()
        return _claim(row) if row else None

    def claims(self, *, work_ids: list[str] | None = None, owner_account_id: int | None = None,
               scanner_account_id: int | None = None, state: str | None = None, upload_id: str | None = None,
               scan_id: str | None = None, limit: int = 1000) -> list[Claim]:  # fmt: skip
        """Claims, newest first, with each filter given (``work_ids=[]`` matches nothing)."""
        if work_ids is not None and not work_ids:
            return []
        equal = {"owner_account_id": owner_account_id, "scanner_account_id": scanner_account_id, "state": state,
                 "upload_id": upload_id, "scan_id": scan_id}  # fmt: skip
        sql, args = select("claims", equal, "seq DESC", limit, work_id=work_ids)
        return [_claim(r) for r in self.database.execute(sql, args)]

    def history(self, claim_id: str) -> list[Change]:
        rows = self.database.execute("SELECT change FROM claim_history WHERE claim_id = ? ORDER BY seq", (claim_id,))
        return [Change.from_dict(json.loads(r[0])) for r in rows]

    def act(self, claim: Claim, action: str, side: str, actor: str, reason: str, window_s: float) -> Claim | None:
        """Take ``action`` on ``claim`` (as it was read); the claim after it, or None when it
        changed meanwhile (the caller reads it again and decides again). A claim that enters
        a state awaiting the owner gets its deadline ``window_s`` from now.
        ``TransitionRefused`` for an action its state or ``side`` does not allow."""
        to = next_state(claim.state, action, side)
        at = now()
        deadline = later(window_s) if to in AWAITING_OWNER else None
        with self.database.transaction() as tx:
            cur = tx.execute("UPDATE claims SET state = ?, updated_at = ?, deadline = ? WHERE id = ? AND state = ?",
                             (to, at, deadline, claim.id, claim.state))  # fmt: skip
            if cur.rowcount != 1:
                return None
            _history(tx, claim.id, Change(at, actor, action, claim.state, to, reason))
        return self.claim(claim.id)

    def expire(self) -> list[Claim]:
        """Release every claim left awaiting the owner past its deadline; the claims released."""
        at = now()
        released = []
        with self.database.transaction() as tx:
            rows = tx.execute(f"SELECT * FROM claims WHERE state IN ({','.join('?' * len(AWAITING_OWNER))}) "
                              "AND deadline IS NOT NULL AND deadline <= ?", (*AWAITING_OWNER, at)).fetchall()  # fmt: skip
            for row in rows:
                cur = tx.execute("UPDATE claims SET state = 'released', updated_at = ?, deadline = NULL WHERE id = ? AND state = ?",
                                 (at, row["id"], row["state"]))  # fmt: skip
                if cur.rowcount != 1:  # another server's clock released it (or its owner answered) first
                    continue
                _history(tx, row["id"], Change(at, CLOCK, EXPIRED, row["state"], "released",
                                               "the owner did not answer within the response window"))  # fmt: skip
                released.append(row["id"])
        return [c for c in (self.claim(i) for i in released) if c is not None]

    # -- reach ---------------------------------------------------------------------------

    def reach_rows(self, work_ids: list[str]) -> list[dict]:
        """For each work of ``work_ids``, every checked upload that reuses it: the upload's
        metadata and the reuse's seconds; an upload checked more than once counts once, as
        its latest check (same account, platform and upload id), with what an earlier check
        said and the latest did not (a platform that sends the publication time once)."""
        if not work_ids:
            return []
        rows = self.database.execute(
            # Uploads checked in one second in the order they were checked: that of their scan
            # jobs, written in the same transaction (a portable stand-in for SQLite's rowid).
            f"SELECT r.work_id, r.reuse, u.* FROM reuses r JOIN uploads u ON u.scan_id = r.scan_id "
            f"JOIN jobs j ON j.id = u.scan_id WHERE r.work_id IN ({','.join('?' * len(work_ids))}) "
            f"ORDER BY u.checked_at, j.seq", work_ids)  # fmt: skip
        latest: dict[tuple, dict] = {}
        for row in rows:
            row = dict(row)
            key = (row["work_id"], row["account_id"], row["platform"], row["upload_id"] or row["scan_id"])
            before = latest.get(key, {})
            latest[key] = {**row, "reuse": json.loads(row["reuse"]),
                           **{k: before[k] for k in ("uploader", "url", "published_at") if before.get(k) and not row[k]}}  # fmt: skip
        return list(latest.values())

    # -- webhooks ------------------------------------------------------------------------

    def add_webhook(self, account_id: int, url: str, secret: str) -> dict:
        hook_id = WEBHOOK_PREFIX + secrets.token_hex(6)
        with self.database.transaction() as tx:
            tx.execute("INSERT INTO webhooks (id, account_id, url, secret, created_at) VALUES (?, ?, ?, ?, ?)",
                       (hook_id, account_id, url, secret, now()))  # fmt: skip
        return self.webhook(hook_id)

    def webhook(self, hook_id: str) -> dict | None:
        row = self.database.execute("SELECT * FROM webhooks WHERE id = ?", (hook_id,)).fetchone()
        return dict(row) if row else None

    def webhooks(self, account_ids: list[int] | None = None) -> list[dict]:
        if account_ids is not None and not account_ids:
            return []
        sql, args = "SELECT * FROM webhooks", []
        if account_ids is not None:
            sql += f" WHERE account_id IN ({','.join('?' * len(account_ids))})"
            args = account_ids
        return [dict(r) for r in self.database.execute(sql + " ORDER BY seq", args)]

    def delete_webhook(self, hook_id: str) -> None:
        with self.database.transaction() as tx:
            tx.execute("DELETE FROM webhooks WHERE id = ?", (hook_id,))
