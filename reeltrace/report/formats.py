"""Report stage: scan results and catalogues as JSON, CSV and terminal tables."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

from ..records import ScanResult, Segment, Work, WorkMatch


def display(text: str) -> str:
    """``text`` safe to print on one line, whatever bytes a file name put in it."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


SPEED_SPREAD = 0.05
"""Within 5% of 1x a segment's speed is said as 1x: the estimate's own spread."""


def speed_text(speed: float) -> str:
    """A segment's speed as reports say it: "1x", or "0.50x" where it differs (``SPEED_SPREAD``)."""
    return f"{speed:.2f}x" if abs(speed - 1.0) >= SPEED_SPREAD else "1x"


def clock(seconds: float) -> str:
    """h:mm:ss.ss or m:ss.ss."""
    minutes, secs = divmod(max(float(seconds), 0.0), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:05.2f}" if hours else f"{minutes}:{secs:05.2f}"


def at_least(results: list[ScanResult], min_score: float = 0.0, min_seconds: float = 0.0) -> list[ScanResult]:
    """The results with only the segments scored at least ``min_score`` whose query stretch
    lasts at least ``min_seconds``; a work left without segments is left out, and its
    match score is that of its best kept segment (``scan --min-score / --min-seconds``)."""
    out = []
    for r in results:
        matches = []
        for m in r.matches:
            kept = [s for s in m.segments if s.score >= min_score and s.query_end - s.query_start >= min_seconds]
            if kept:
                matches.append(replace(m, segments=kept, score=max(s.score for s in kept)))
        out.append(replace(r, matches=matches))
    return out


def segment_public(s: Segment) -> dict:
    """A segment as the CLI's JSON and the service's API show it: ``speed`` is work seconds
    per query second (2 for a copy played twice as fast; the table's SPEED column rounds it);
    ``shares_audio_with`` (a work id) only where another matched work holds the same
    recording on the stretch."""
    out = {
        "query_start": round(s.query_start, 3),
        "query_end": round(s.query_end, 3),
        "work_start": round(s.work_start, 3),
        "work_end": round(s.work_end, 3),
        "speed": round(s.speed, 3),
        "score": round(s.score, 4),
        "modality": s.modality,
    }
    if s.shares_audio_with:
        out["shares_audio_with"] = s.shares_audio_with
    return out


def work_public(w: Work) -> dict:
    """A work as the CLI's JSON and the service's API show it (no internal key)."""
    return {
        "work_id": w.work_id,
        "title": w.title,
        "owner": w.owner,
        "category": w.category,
        "duration": round(w.duration, 3),
        "content_hash": w.content_hash,
        "source_path": w.source_path,
        "registered_at": w.registered_at,
        "has_video": w.has_video,
        "has_audio": w.has_audio,
        "frames": w.frames,
    }


def match_public(m: WorkMatch) -> dict:
    return {
        "work_id": m.work.work_id,
        "title": m.work.title,
        "owner": m.work.owner,
        "category": m.work.category,
        "modality": m.modality,
        "score": round(m.score, 4),
        "segments": [segment_public(s) for s in m.segments],
    }


def result_public(r: ScanResult) -> dict:
    """One scan result as the CLI's JSON shows it (the documented contract)."""
    return {
        "query": r.query,
        "duration": round(r.duration, 3),
        "error": r.error,
        "matches": [match_public(m) for m in r.matches],
    }


def scan_json(results: list[ScanResult]) -> str:
    return json.dumps({"results": [result_public(r) for r in results]}, indent=2, ensure_ascii=False) + "\n"


SCAN_CSV_FIELDS = [
    "query", "duration", "error", "work_id", "title", "owner", "category", "modality", "match_score",
    "query_start", "query_end", "work_start", "work_end", "segment_score", "segment_modality", "shares_audio_with",
    "speed",
]  # fmt: skip
"""New columns go at the end: a reader that takes them by position keeps working."""


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP, CSV injection)."""


def csv_cell(value):
    """A value safe to put in a CSV cell: text that a spreadsheet would run as a formula
    (a file name or title chosen by someone else, say ``=HYPERLINK(...)``) is prefixed with
    ``'``, as OWASP advises; numbers are left as they are. A carriage return inside text
    becomes a line feed: the writer quotes a cell holding its line terminator (``\n``), not
    one holding ``\r``, which a reader takes for the end of the row."""
    if not isinstance(value, str):
        return value
    safe = value.replace("\r\n", "\n").replace("\r", "\n")
    return "'" + safe if value.startswith(FORMULA_STARTS) else safe


def csv_rows(rows: list[dict]) -> list[dict]:
    """Rows with every cell passed through ``csv_cell``."""
    return [{k: csv_cell(v) for k, v in row.items()} for row in rows]


def scan_csv(results: list[ScanResult]) -> str:
    """One row per segment; a query with no match (or an error) still gets one row. Cells
    that a spreadsheet would run as formulas are neutralised (``csv_cell``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, SCAN_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in results:
        base = {"query": r.query, "duration": round(r.duration, 3), "error": r.error or ""}
        if not r.matches:
            writer.writerow(csv_rows([base])[0])
        for m in r.matches:
            for s in m.segments:
                row = dict(base, work_id=m.work.work_id, title=m.work.title, owner=m.work.owner,
                           category=m.work.category, modality=m.modality, match_score=round(m.score, 4),
                           segment_score=round(s.score, 4), segment_modality=s.modality)  # fmt: skip
                row.update({k: v for k, v in segment_public(s).items() if k not in ("score", "modality")})
                writer.writerow(csv_rows([row])[0])
    return out.getvalue()


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


SEGMENT_COLUMNS = ("QUERY", "WORK", "SPEED", "SCORE", "SHOWN BY", "NOTE")
"""The columns of the table's segment rows: the stretch of the query, the stretch of the
work it reuses, the work's speed in the query, the score, what shows it, and a note (another
work that holds the same recording there)."""


def _aligned(rows: list[tuple[str, ...]], indent: str) -> list[str]:
    """Rows as left-aligned columns; a column empty in every row but the header is left out."""
    keep = [i for i in range(len(rows[0])) if any(r[i] for r in rows[1:])]
    widths = {i: max(len(r[i]) for r in rows) for i in keep}
    return [(indent + "  ".join(r[i].ljust(widths[i]) for i in keep)).rstrip() for r in rows]


def scan_table(results: list[ScanResult], errors: bool = True) -> str:
    """The terminal's report: per query its matched works, per work a table of its segments
    under ``SEGMENT_COLUMNS`` headers (the speed: the trailer's slow-motion shot is 0.5x),
    then one summary line. ``errors=False`` leaves failed inputs out of the body where each has already
    been said once on standard error; the summary still counts them."""
    lines = []
    for r in results:
        if r.error:
            if errors:
                lines.append(f"{display(r.query)}: ERROR {r.error}")
            continue
        if not r.matches:
            lines.append(f"{display(r.query)} ({clock(r.duration)}): no registered work found")
            continue
        lines.append(f"{display(r.query)} ({clock(r.duration)}): {_count(len(r.matches), 'work')}")
        for m in r.matches:
            lines.append(f"  {m.work.work_id}  {display(m.work.title)!r} [{m.work.category}] owner={display(m.work.owner) or '-'}"
                         f"  {m.modality}  score {m.score:.3f}")  # fmt: skip
            rows = [SEGMENT_COLUMNS]
            for seg in m.segments:
                rows.append((f"{clock(seg.query_start)}-{clock(seg.query_end)}", f"{clock(seg.work_start)}-{clock(seg.work_end)}",
                             speed_text(seg.speed), f"{seg.score:.3f}", seg.modality,
                             f"same recording as {seg.shares_audio_with}" if seg.shares_audio_with else ""))  # fmt: skip
            lines.extend(_aligned(rows, "    "))
    if results:
        matched = [r for r in results if not r.error and r.matches]
        failed = sum(1 for r in results if r.error)
        works = sum(len(r.matches) for r in matched)
        segments = sum(len(m.segments) for r in matched for m in r.matches)
        lines.append(f"{_count(len(results), 'file')} scanned: {len(matched)} reuse registered works "
                     f"({_count(works, 'match', 'matches')}, {_count(segments, 'segment')}), {len(results) - len(matched) - failed} "
                     f"reuse none, {failed} failed")  # fmt: skip
    return "\n".join(lines) + "\n"


def works_json(works: list[Work]) -> str:
    return json.dumps({"works": [work_public(w) for w in works]}, indent=2, ensure_ascii=False) + "\n"


def works_table(works: list[Work]) -> str:
    if not works:
        return "no works registered\n"
    rows = [("ID", "CATEGORY", "DURATION", "OWNER", "TITLE")]
    rows += [(w.work_id, w.category, clock(w.duration), display(w.owner) or "-", display(w.title)) for w in works]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:4])) + "  " + r[4] + "\n" for r in rows)
