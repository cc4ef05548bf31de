"""The takedown notice of a claim: one self-contained HTML page (no outside references),
laid out to print on A4 or Letter as the notice a rights desk sends a platform: the
rights holder, the work, the upload (platform, id, uploader, URL), every segment with its
times in both and what showed it, the policy that made the claim and the claim's history.

A notice for a claim that is not (yet) taken down is marked DRAFT on every page: the owner
may read it before deciding, and nobody can mistake it for one that was sent.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

from ..records import Work, WorkMatch
from .formats import clock

STYLE = """
body{font:14px/1.45 Georgia,'Times New Roman',serif;color:#111;margin:0;background:#f3f3f3}
main{max-width:780px;margin:24px auto;background:#fff;padding:40px 48px;box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:15px;margin:26px 0 8px;border-bottom:1px solid #999;padding-bottom:3px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border:1px solid #bbb;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#eee}dl{display:grid;grid-template-columns:170px 1fr;gap:3px 12px;margin:0}dt{font-weight:bold}dd{margin:0}
.draft{color:#a00;font-weight:bold;letter-spacing:.08em;border:2px solid #a00;display:inline-block;padding:2px 8px;margin:6px 0}
.sign{margin-top:40px;display:grid;grid-template-columns:1fr 1fr;gap:30px}.sign div{border-top:1px solid #333;padding-top:4px;font-size:12px}
footer{margin-top:30px;font-size:11px;color:#555}
@media print{body{background:#fff}main{box-shadow:none;margin:0;padding:0;max-width:none}.draft{position:static}}
@page{margin:18mm}
"""


def _esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(text: str | None) -> str:
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render_takedown(claim: dict, match: WorkMatch | None, work: Work | None, rights_holder: str) -> str:
    """The notice of ``claim`` (``rights.Rights.public(..., history=True)``); ``match`` is the
    claim's work in the scan that made it (its segments), ``work`` the registered work."""
    sent = claim["state"] == "takedown"
    upload = claim.get("upload") or {}
    title = work.title if work else claim.get("title", "")
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Takedown notice {_esc(claim['id'])}</title>",
             f"<style>{STYLE}</style></head><body><main>",
             "<h1>Notice of copyright infringement</h1>",
             f"<div>Claim <b>{_esc(claim['id'])}</b> · state <b>{_esc(claim['state'])}</b></div>"]  # fmt: skip
    if not sent:
        parts.append('<div class="draft">DRAFT: this claim has not been taken down</div>')
    parts.append("<h2>Rights holder</h2><dl>")
    parts.append(f"<dt>Name</dt><dd>{_esc(rights_holder)}</dd>")
    parts.append("</dl><h2>Work</h2><dl>")
    rows = [("Title", title), ("Work id", claim["work_id"]), ("Owner on record", work.owner if work else claim.get("owner")),
            ("Category", work.category if work else ""), ("Length", clock(work.duration) if work else ""),
            ("Registered", _when(work.registered_at) if work else ""),
            ("Content SHA-256", work.content_hash if work else "")]  # fmt: skip
    parts += [f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in rows if v]
    parts.append("</dl><h2>Infringing upload</h2><dl>")
    rows = [("Platform", upload.get("platform")), ("Upload id", upload.get("upload_id")), ("Uploader", upload.get("uploader")),
            ("URL", upload.get("url")), ("Published", _when(upload.get("published_at"))), ("Views", upload.get("views")),
            ("Checked", _when(upload.get("checked_at"))), ("Length", clock(upload["duration"]) if upload.get("duration") else ""),
            ("Scan", claim["scan_id"])]  # fmt: skip
    parts += [f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in rows if v not in (None, "")]
    reuse = claim["reuse"]
    parts.append("</dl><h2>What the upload reuses</h2>")
    parts.append(f"<p>{reuse['seconds']:.1f} s of the upload ({100 * reuse['query_share']:.1f}% of it) show "
                 f"{reuse['work_seconds']:.1f} s of the work ({100 * reuse['work_share']:.1f}% of it), "
                 f"shown by {_esc(', '.join(reuse['modalities']))}; score {reuse['score']:.3f}.</p>")  # fmt: skip
    parts.append("<table><tr><th>#</th><th>In the upload</th><th>In the work</th><th>Shown by</th><th>Score</th></tr>")
    for i, seg in enumerate(match.segments if match else [], 1):
        parts.append(f"<tr><td>{i}</td><td>{clock(seg.query_start)} – {clock(seg.query_end)}</td>"
                     f"<td>{clock(seg.work_start)} – {clock(seg.work_end)}</td><td>{_esc(seg.modality)}</td>"
                     f"<td>{seg.score:.3f}</td></tr>")  # fmt: skip
    parts.append("</table>")
    policy = claim["policy"]
    parts.append("<h2>Policy</h2><dl>")
    rows = [("Action", policy["action"]), ("Set on", claim.get("policy_source")), ("At least", f"{policy['min_seconds']:g} s"),
            ("Share of the upload", f"{100 * policy['min_query_share']:g}%"),
            ("Share of the work", f"{100 * policy['min_work_share']:g}%"), ("Shown by", policy["modality"])]  # fmt: skip
    parts += [f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in rows]
    parts.append("</dl><h2>History of the claim</h2><table><tr><th>When</th><th>Who</th><th>What</th><th>State</th><th>Why</th></tr>")
    for change in claim.get("history", []):
        move = f"{change['from_state']} → {change['to_state']}" if change["from_state"] else change["to_state"]
        parts.append(f"<tr><td>{_esc(_when(change['at']))}</td><td>{_esc(change['actor'])}</td><td>{_esc(change['action'])}</td>"
                     f"<td>{_esc(move)}</td><td>{_esc(change['reason'])}</td></tr>")  # fmt: skip
    parts.append("</table>")
    parts.append("<p>The rights holder states in good faith that the use described above is not authorised by the "
                 "rights holder, its agent or the law, and that the information in this notice is accurate.</p>")  # fmt: skip
    parts.append('<div class="sign"><div>Signature of the rights holder or its agent</div><div>Date</div></div>')
    parts.append(f"<footer>Made by reeltrace from claim {_esc(claim['id'])}; the segments are those of scan "
                 f"{_esc(claim['scan_id'])}, whose evidence report shows each one frame by frame.</footer>")  # fmt: skip
    parts.append("</main></body></html>")
    return "\n".join(parts)
