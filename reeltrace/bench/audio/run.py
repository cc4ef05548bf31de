"""The audio benchmark's run: register the works, scan every query through ``Library``,
label the results, and the summary table (``markdown``)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time

import numpy as np

from .calibration import calibration_rows
from .dataset import LENGTHS, Edit, Plan, Query, build_queries, choose, make_query, seeded_fraction, segment_ok, select
from .shared import shared_recording


def run_audio_bench(media: list[str], out: str, seed: int = 0, quick: bool = False, log=print) -> dict:
    from ...library import Library

    plan = Plan.quick() if quick else Plan.full()
    items, reg, neg = select(media, out, seed, plan)
    # A fresh library and results; rendered queries stay for build_queries to reuse.
    if os.path.isdir(out):
        for name in os.listdir(out):
            if name != "queries":
                target = os.path.join(out, name)
                shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
    os.makedirs(out, exist_ok=True)
    lib_dir = os.path.join(out, "library")
    log(f"registering {len(reg)} works ({sum(i.duration for i in reg) / 3600:.2f} h); "
        f"negatives: {len(neg)} tracks ({sum(i.duration for i in neg) / 3600:.2f} h)", file=sys.stderr, flush=True)  # fmt: skip
    summary: dict = {"seed": seed, "quick": quick, "plan": dataclasses.asdict(plan)}
    with Library(lib_dir) as lib:
        t0 = time.perf_counter()
        keys: dict[str, int] = {}
        for n, it in enumerate(reg):
            r = lib.register(it.path, category="audio", work_id=f"a{n:04d}")
            if r.error:
                log(f"  register failed: {it.path}: {r.error}", file=sys.stderr)
                continue
            keys[it.path] = r.work.key
        ingest = time.perf_counter() - t0
        hours = sum(i.duration for i in reg if i.path in keys) / 3600
        index = lib.audio_index()
        size = len(index.to_bytes())
        summary.update(
            works=len(keys), registered_hours=round(hours, 3), negative_hours=round(sum(i.duration for i in neg) / 3600, 3),
            ingest_seconds=round(ingest, 1), ingest_x_realtime=round(hours * 3600 / ingest, 1),
            index_mb_per_hour=round(size / hours / 1e6, 3), index_hashes=len(index),
        )  # fmt: skip
        log(f"ingest {summary['ingest_x_realtime']}x realtime, index {summary['index_mb_per_hour']} MB/h; making queries",
            file=sys.stderr, flush=True)  # fmt: skip
        queries = build_queries(items, plan, os.path.join(out, "queries"), seed, log)
        path_of = {v: k for k, v in keys.items()}
        calib: list[dict] = []
        t1 = time.perf_counter()
        for n, q in enumerate(queries):
            res = lib.scan(q.path, trace=True)
            raw = res.trace.audio if res.trace is not None else {}
            best = res.matches[0] if res.matches else None
            right = [m for m in res.matches if path_of.get(m.work.key) == q.truth] if q.truth else []
            q.result = {
                "matched": [path_of.get(m.work.key) for m in res.matches],
                **answer_marks(res.matches, q, path_of),
                # Every other registered work a positive query claims, best first: a claim
                # against another rights holder's track (issue 16), whether ranked first or
                # not, with whether the scan said it shares the recording with the query's
                # work and whether the two works' own audio confirms that (``shared``).
                "other_works": [[path_of.get(m.work.key), round(m.score, 4), *shared_claim(m, right, path_of)]
                                for m in res.matches if q.truth and path_of.get(m.work.key) != q.truth],  # fmt: skip
                "best_score": round(best.score, 4) if best else 0.0,
                "elapsed": round(res.elapsed, 4),
                "error": res.error,
            }
            calib += calibration_rows(q, raw, path_of)
            if (n + 1) % 200 == 0:
                log(f"  scanned {n + 1}/{len(queries)}", file=sys.stderr, flush=True)
        scan_time = time.perf_counter() - t1
        # Latency: 60 s clips (mp3 128k re-encodes) of registered and unregistered tracks.
        lat = []
        long_reg = choose([i for i in reg if i.duration > 70 and i.path in keys], plan.latency_clips, seed, "lat")
        long_neg = choose([i for i in neg if i.duration > 70], max(plan.latency_clips // 2, 1), seed, "latn")
        for n, it in enumerate(long_reg + long_neg):
            p = os.path.join(out, "queries", f"long{n:02d}.mp3")
            s0 = float(seeded_fraction(seed, "ls" + it.coin) * (it.duration - 65))
            make_query(it, s0, 60.0, Edit("mp3 128k", codec=("-c:a", "libmp3lame", "-b:a", "128k"), ext="mp3"), p, seed)
            res = lib.scan(p)
            lat.append({"registered": it.registered, "elapsed": round(res.elapsed, 3),
                        "found": bool(res.matches and path_of.get(res.matches[0].work.key) == it.path) if it.registered else None,
                        "fp": (not it.registered) and bool(res.matches)})  # fmt: skip
    el = [x["elapsed"] for x in lat]
    summary.update(
        queries=len(queries), scan_seconds=round(scan_time, 1),
        latency_60s_median=round(float(np.median(el)), 3) if el else None,
        latency_60s_max=round(float(np.max(el)), 3) if el else None, latency=lat,
    )  # fmt: skip
    rows = table(queries)
    summary["table"] = rows
    summary["wrong_work_claims"] = wrong_work_claims(queries, {i.path: i.group for i in items})
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as fh:
        json.dump({"summary": summary, "queries": [dataclasses.asdict(q) for q in queries]}, fh, indent=1)
    with open(os.path.join(out, "calibration.json"), "w", encoding="utf-8") as fh:
        json.dump(calib, fh)
    return summary


def answer_marks(matches: list, q: Query, path_of: dict) -> dict[str, bool]:
    """How a scan's matches (best first) answer a query: ``top1``, its own work first;
    ``segment``, a segment of its own work at the right work times (``segment_ok``);
    ``fp``, a negative query claims anything; ``wrong``, a positive one ranks another work
    first. ``path_of`` maps a work key to its source path, as ``q.truth`` names it."""
    best = matches[0] if matches else None
    right = [m for m in matches if path_of.get(m.work.key) == q.truth] if q.truth else []
    return {
        "top1": bool(best is not None and q.truth and path_of.get(best.work.key) == q.truth),
        "segment": bool(right and any(segment_ok(s, q) for s in right[0].segments)),
        "fp": bool(q.truth is None and matches),
        "wrong": bool(q.truth and best is not None and path_of.get(best.work.key) != q.truth),
    }


def shared_claim(other, right: list, path_of: dict) -> list:
    """``[said, check]`` for a claim on another work: ``said``, the scan reported a segment
    of it as sharing the recording with the query's own work; ``check``, where it did, the
    two works' waveforms along the alignment that a said segment and an overlapping segment
    of the query's own work imply (``shared``): the first that confirms it, else the first
    checked, or None where no said segment overlaps one of the own work's."""
    if not right:
        return [False, None]
    own = right[0]
    said, first = False, None
    for seg in other.segments:
        if seg.shares_audio_with != own.work.work_id:
            continue
        said = True
        for mine in own.segments:
            q0, q1 = max(seg.query_start, mine.query_start), min(seg.query_end, mine.query_end)
            if q1 - q0 < 1.0 or abs(np.log(seg.speed / mine.speed)) > 0.03:
                continue
            start_own = mine.work_start + (q0 - mine.query_start) * mine.speed
            start_other = seg.work_start + (q0 - seg.query_start) * seg.speed
            check = shared_recording(path_of[own.work.key], start_own, path_of[other.work.key], start_other, (q1 - q0) * mine.speed)
            found = {"at_claim": check.at_claim, "elsewhere": check.elsewhere, "confirmed": check.confirmed}
            if check.confirmed:
                return [True, found]
            first = first or found
    return [said, first]


def table(queries: list[Query]) -> list[dict]:
    rows = []
    for edit in dict.fromkeys(q.edit for q in queries):
        row = {"edit": edit}
        for length in LENGTHS:
            pos = [q for q in queries if q.edit == edit and q.length == length and q.truth]
            negs = [q for q in queries if q.edit == edit and q.length == length and not q.truth]
            row[f"{length:g}s"] = {
                "n": len(pos),
                "top1": sum(q.result["top1"] for q in pos),
                "segment": sum(q.result["segment"] for q in pos),
                "wrong": sum(q.result["wrong"] for q in pos),
                "other": sum(bool(q.result.get("other_works")) for q in pos),
                "speech_n": sum(q.kind == "speech" for q in pos),
                "speech_top1": sum(q.result["top1"] for q in pos if q.kind == "speech"),
                "neg": len(negs),
                "fp": sum(q.result["fp"] for q in negs),
            }
        rows.append(row)
    return rows


def wrong_work_claims(queries: list[Query], group_of: dict[str, str]) -> list[dict]:
    """Each claim of a positive query on a registered work other than its own, with whether
    the two come from one catalogue (one package or origin: one composer's album, one
    game's soundtrack), where a shared loop or timbre is likeliest to pass for a copy."""
    claims = []
    for q in queries:
        for work, score, *shared in q.result.get("other_works", []):
            said, check = shared if shared else (False, None)
            claims.append({"query": os.path.basename(q.path), "edit": q.edit, "length": q.length, "truth": q.truth,
                           "claimed": work, "score": score,
                           "same_catalogue": group_of.get(work) is not None and group_of.get(work) == group_of.get(q.truth),
                           "said_shared": bool(said), "shared_check": check,
                           "wrong": claim_is_wrong(said, check)})  # fmt: skip
    return claims


def claim_is_wrong(said: bool, check: dict | None) -> bool:
    """Whether a claim on a work other than the query's own is wrong (``shared_claim``'s
    ``[said, check]``): it is right only where it is said as a shared recording and the two
    works' own audio confirms that (issue 16: report both and say so)."""
    return not (said and check is not None and check["confirmed"])


def markdown(summary: dict) -> str:
    lines = [
        f"Works: {summary['works']} registered ({summary['registered_hours']} h), negatives "
        f"{summary['negative_hours']} h never registered; {summary['queries']} queries.",
        "",
        "| edit | 3 s top-1 / segment | 5 s top-1 / segment | 10 s top-1 / segment | speech top-1 (3/5/10 s) | FP (negative queries) |",
        "|---|---|---|---|---|---|",
    ]
    tot = {L: [0, 0, 0] for L in LENGTHS}
    fp = [0, 0]
    for row in summary["table"]:
        cells, sp, f = [], [], [0, 0]
        for L in LENGTHS:
            c = row[f"{L:g}s"]
            n = max(c["n"], 1)
            cells.append(f"{100 * c['top1'] / n:.0f}% / {100 * c['segment'] / n:.0f}% (n={c['n']})")
            sp.append(f"{c['speech_top1']}/{c['speech_n']}")
            f[0] += c["fp"]
            f[1] += c["neg"]
            tot[L][0] += c["top1"]
            tot[L][1] += c["segment"]
            tot[L][2] += c["n"]
        fp[0] += f[0]
        fp[1] += f[1]
        lines.append(f"| {row['edit']} | " + " | ".join(cells) + f" | {' '.join(sp)} | {f[0]}/{f[1]} |")
    lines.append(
        "| **all** | "
        + " | ".join(f"{100 * tot[L][0] / max(tot[L][2], 1):.1f}% / {100 * tot[L][1] / max(tot[L][2], 1):.1f}%" for L in LENGTHS)
        + f" | | {fp[0]}/{fp[1]} |"
    )
    claims = summary.get("wrong_work_claims", [])
    positives = sum(row[f"{L:g}s"]["n"] for row in summary["table"] for L in LENGTHS)
    wrong = [c for c in claims if c.get("wrong", True)]
    lines += ["", f"Claims on another registered work by positive queries: {len(claims)} "
              f"({sum(c['same_catalogue'] for c in claims)} within the query's own catalogue), "
              f"from {sum(row[f'{L:g}s'].get('other', 0) for row in summary['table'] for L in LENGTHS)} of {positives} positive queries; "
              f"**wrong: {len(wrong)}**, the others said as a recording both works hold and confirmed on the two works' audio."]  # fmt: skip
    for c in claims[:20]:
        check = c.get("shared_check")
        said = (f"; said shared, waveforms {check['at_claim']:.2f} against {check['elsewhere']:.2f} elsewhere: "
                f"{'confirmed' if check['confirmed'] else 'not confirmed'}" if check else "; said shared" if c.get("said_shared") else "")  # fmt: skip
        lines.append(f"- {c['query']} ({c['edit']}, {c['length']:g} s) claims {os.path.basename(c['claimed'] or '?')} at {c['score']:.2f}"
                     f"{' (same catalogue)' if c['same_catalogue'] else ''}; its work is {os.path.basename(c['truth'])}{said}")  # fmt: skip
    lines += [
        "",
        f"Ingest (register, one process): {summary['ingest_x_realtime']}x realtime; index "
        f"{summary['index_mb_per_hour']} MB per hour of audio; scan of a 60 s clip against the library: "
        f"median {summary['latency_60s_median']} s, max {summary['latency_60s_max']} s.",
    ]
    return "\n".join(lines)
