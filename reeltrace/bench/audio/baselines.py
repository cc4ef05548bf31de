"""Baselines on a finished audio run's queries: Chromaprint (``fpcalc``) and Ellis'
audfprint (PyPI ``audfprint2``), labelled as ``run_audio_bench`` labels ours."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib.metadata import version

import numpy as np

from .dataset import LENGTHS, Plan, Query, select
from .run import markdown, table


# -- baseline: Chromaprint ------------------------------------------------------------------
#
# Chromaprint (the fingerprinter behind AcoustID), run as the Debian ``fpcalc`` command
# (package libchromaprint-tools). Its raw fingerprint is one 32-bit word per 1365/11025 s
# (0.124 s) of audio, each bit a sign of a filtered chroma feature. Two fingerprints are
# compared the standard way: slide the query's words along the work's and take the offset
# with the lowest bit error rate (differing bits / 32 per word, over the query's words).
# The best work is the one with the lowest rate; its offset gives the work time of the
# query's start. No speed model: a changed speed is one offset for the whole query.

CHROMAPRINT_ITEM = 1365 / 11025  # seconds per fingerprint word


def fpcalc(path: str) -> np.ndarray:
    """Raw Chromaprint fingerprint (uint32 words) of a whole file; empty when too short."""
    done = subprocess.run(["fpcalc", "-raw", "-length", "0", "-json", path], capture_output=True, text=True)
    if done.returncode != 0 and not done.stdout.strip():
        return np.zeros(0, np.uint32)
    return np.array(json.loads(done.stdout).get("fingerprint") or [], np.uint32)


def chromaprint_best(query: np.ndarray, works: dict[str, np.ndarray]) -> tuple[str | None, float, float]:
    """(best work, its bit error rate, work seconds of the query's start) over full overlaps."""
    best: tuple[str | None, float, float] = (None, 1.0, 0.0)
    n = len(query)
    if n == 0:
        return best
    for path, fp in works.items():
        if len(fp) < n:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(fp, n)
        errors = np.bitwise_count(windows ^ query[None, :]).sum(axis=1, dtype=np.int64)
        o = int(np.argmin(errors))
        ber = float(errors[o]) / (32 * n)
        if ber < best[1]:
            best = (path, ber, o * CHROMAPRINT_ITEM)
    return best


def run_chromaprint_baseline(run_dir: str, media: list[str], seed: int = 0, quick: bool = False,
                             margin: float = 0.01, log=print) -> dict:  # fmt: skip
    """The Chromaprint baseline on the queries of a finished ``run_audio_bench`` run.

    Threshold: like ours, set so that the negative queries give no match: ``margin`` below
    the lowest bit error rate any negative query of the same length reached (a 3-word
    fingerprint needs a far stricter rate than a 60-word one; one rate for all lengths
    would be set by the 3 s queries). Also reported: recall at BER 0.35, a commonly
    quoted Chromaprint match rule, with its false positives. ``fpcalc`` results are
    kept in ``baseline-chromaprint.json`` and reused when the queries are the same.
    """
    if shutil.which("fpcalc") is None:
        raise RuntimeError("the baseline needs fpcalc (Debian: apt-get install libchromaprint-tools)")
    plan = Plan.quick() if quick else Plan.full()
    _, reg, _ = select(media, run_dir, seed, plan)
    with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    t0 = time.perf_counter()
    works = {it.path: fpcalc(it.path) for it in reg}
    ingest = time.perf_counter() - t0
    hours = sum(it.duration for it in reg) / 3600
    queries = [Query(**q) for q in data["queries"]]
    found = []
    t1 = time.perf_counter()
    saved = os.path.join(run_dir, "baseline-chromaprint.json")
    if os.path.exists(saved):
        with open(saved, encoding="utf-8") as fh:
            old = json.load(fh)
        if len(old["found"]) == len(queries):
            found = [((w, b, s), m) for w, b, s, m in old["found"]]
    for n, q in enumerate(queries if not found else []):
        fp = fpcalc(q.path)
        found.append((chromaprint_best(fp, works), len(fp)))
        if (n + 1) % 200 == 0:
            log(f"  chromaprint: {n + 1}/{len(queries)}", file=sys.stderr, flush=True)
    scan = time.perf_counter() - t1
    neg_ber = {L: [b[1] for (b, _), q in zip(found, queries) if q.truth is None and q.length == L] for L in LENGTHS}
    threshold = {L: round(min(v) - margin, 4) if v else 0.35 for L, v in neg_ber.items()}

    def label(limit) -> list[Query]:
        # A whole-query comparison: the match spans the query file's own duration.
        picks = [(work, 1 - ber, start, start + q.length / q.speed, True) for q, ((work, ber, start), _) in zip(queries, found)]
        return _label_picks(queries, picks, lambda q, score: 1 - score <= (limit[q.length] if isinstance(limit, dict) else limit))

    summary = {
        "baseline": "chromaprint (fpcalc " + subprocess.run(["fpcalc", "-version"], capture_output=True, text=True).stdout.split()[2] + ")",
        "works": len(works), "registered_hours": round(hours, 3), "negative_hours": data["summary"]["negative_hours"],
        "queries": len(queries), "threshold_ber": {f"{L:g}s": t for L, t in threshold.items()},
        "lowest_negative_ber": {f"{L:g}s": round(min(v), 4) for L, v in neg_ber.items() if v},
        "ingest_x_realtime": round(hours * 3600 / ingest, 1),
        "index_mb_per_hour": round(sum(len(f) for f in works.values()) * 4 / hours / 1e6, 3),
        "scan_seconds": round(scan, 1), "words_per_query": {f"{L:g}s": float(np.median([m for (_, m), q in zip(found, queries) if q.length == L])) for L in LENGTHS},
        "table": table(label(threshold)), "table_ber_0.35": table(label(0.35)),
    }  # fmt: skip
    with open(saved, "w", encoding="utf-8") as fh:
        json.dump({"summary": summary, "found": [[b[0], b[1], b[2], m] for b, m in found]}, fh, indent=1)
    return summary


def _label_picks(queries: list[Query], picks: list[tuple], accept) -> list[Query]:
    """A baseline's queries labelled as ``run_audio_bench`` labels ours. ``picks[i]`` is the
    baseline's best answer to query i, ``(work path or None, score, work time of the
    query's start, work time of its end, covers half the query)``, the times as the
    answer's alignment places them; ``accept(query, score)`` says whether that answer is
    a match at the baseline's threshold."""
    out = []
    for q, (work, score, start, end, covered) in zip(queries, picks):
        hit = work is not None and accept(q, score)
        right = hit and work == q.truth
        seg = right and covered and abs(start - q.start) <= 0.5 and abs(end - (q.start + q.length)) <= 0.5
        r = dict(q.result, top1=bool(right), segment=bool(seg), fp=bool(q.truth is None and hit),
                 wrong=bool(q.truth and hit and not right), best_score=round(float(score), 4))  # fmt: skip
        out.append(dataclasses.replace(q, result=r))
    return out


AUDFPRINT_MIN_COUNT = 5  # audfprint's own default rule: 5 temporally consistent hashes are a match
_AUDFPRINT_MATCH = re.compile(r"Matched\s+([\d.]+) s starting at\s+([\d.]+) s in (.+?) to time\s+([\d.]+) s in (.+?) "
                              r"with\s+(\d+) of\s+\d+ common hashes")  # fmt: skip


def parse_audfprint_matches(text: str) -> dict[str, tuple[str, int, float, float]]:
    """audfprint's ``--find-time-range`` log -> {query path: (work path, aligned hashes,
    work time of the query's start, matched seconds)}; queries without a match are absent.

    A line reads "Matched 3.6 s starting at 0.8 s in Q to time 50.9 s in W with 12 of 39
    common hashes": query time 0.8 s plays work time 50.9 s, at speed 1.
    """
    best: dict[str, tuple[str, int, float, float]] = {}
    for line in text.splitlines():
        m = _AUDFPRINT_MATCH.search(line)
        if m:
            span, q_at, qpath, w_at, work, count = m.groups()
            best[qpath] = (work, int(count), float(w_at) - float(q_at), float(span))
    return best


def audfprint_picks(queries: list[Query], found: dict[str, tuple[str, int, float, float]]) -> list[tuple]:
    """``_label_picks`` answers from ``parse_audfprint_matches``. The matched range runs
    between aligned hashes, so an answer covers the query when it spans half the excerpt,
    as our segments must."""
    out = []
    for q in queries:
        work, count, start, span = found.get(q.path, (None, 0, 0.0, 0.0))
        out.append((work, count, start, start + q.length / q.speed, span >= 0.5 * q.length))
    return out


def audfprint_command() -> str | None:
    """The ``audfprint`` command of the ``audfprint2`` package (Ellis' audfprint on PyPI):
    beside this interpreter, else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "audfprint")
    return here if os.access(here, os.X_OK) else shutil.which("audfprint")


def run_audfprint_baseline(run_dir: str, media: list[str], seed: int = 0, quick: bool = False) -> dict:
    """Ellis' audfprint (the landmark fingerprinter reeltrace's audio follows; PyPI
    ``audfprint2``) on the queries of a finished ``run_audio_bench`` run, at its default
    analysis (11.025 kHz, 20 hashes per second, fan-out 3).

    Its database holds the same registered works; every query is matched with
    ``--min-count 2 --find-time-range``, so even weak answers are seen, and the threshold
    is set like ours and Chromaprint's: one above the most aligned hashes any negative
    query of the same length reached (the lowest count with no false positive). Speed
    changes are outside its model (it has no speed hypotheses) and count as misses.
    Its ``match`` analyses each query at four sub-frame shifts by default (our
    counterpart: two frame grids).
    """
    cmd = audfprint_command()
    if cmd is None:
        raise RuntimeError("the baseline needs audfprint (pip install audfprint2)")
    plan = Plan.quick() if quick else Plan.full()
    _, reg, _ = select(media, run_dir, seed, plan)
    with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    queries = [Query(**q) for q in data["queries"]]
    work_dir = os.path.join(run_dir, "baseline-audfprint")
    os.makedirs(work_dir, exist_ok=True)
    db = os.path.join(work_dir, "works.pklz")
    lists = {name: os.path.join(work_dir, f"{name}.txt") for name in ("works", "queries")}
    for name, paths in (("works", [it.path for it in reg]), ("queries", [q.path for q in queries])):
        with open(lists[name], "w", encoding="utf-8") as fh:
            fh.writelines(p + "\n" for p in paths)
    # Track times up to 2^16 frames of 23 ms (25 min): the default 14 bits alias after 6 min.
    common = [cmd, "--dbase", db, "--maxtimebits", "16", "--list", "--ncores", "1"]
    t0 = time.perf_counter()
    subprocess.run([*common, "new", lists["works"]], check=True, capture_output=True)
    ingest = time.perf_counter() - t0
    t1 = time.perf_counter()
    done = subprocess.run([*common, "--min-count", "2", "--max-matches", "1", "--find-time-range", "--verbose",
                           "match", lists["queries"]], check=True, capture_output=True, text=True)  # fmt: skip
    scan = time.perf_counter() - t1
    picks = audfprint_picks(queries, parse_audfprint_matches(done.stdout + done.stderr))
    neg = {L: [p[1] for p, q in zip(picks, queries) if q.truth is None and q.length == L] for L in LENGTHS}
    threshold = {L: max(v, default=1) + 1 for L, v in neg.items()}
    hours = sum(it.duration for it in reg) / 3600
    summary = {
        "baseline": f"audfprint (audfprint2 {version('audfprint2')}, default analysis)",
        "works": len(reg), "registered_hours": round(hours, 3), "negative_hours": data["summary"]["negative_hours"],
        "queries": len(queries), "threshold_hashes": {f"{L:g}s": t for L, t in threshold.items()},
        "ingest_x_realtime": round(hours * 3600 / ingest, 1), "index_mb_per_hour": round(os.path.getsize(db) / hours / 1e6, 3),
        "scan_seconds": round(scan, 1),
        "table": table(_label_picks(queries, picks, lambda q, count: count >= threshold[q.length])),
        "table_min_count_5": table(_label_picks(queries, picks, lambda q, count: count >= AUDFPRINT_MIN_COUNT)),
    }  # fmt: skip
    with open(os.path.join(run_dir, "baseline-audfprint.json"), "w", encoding="utf-8") as fh:
        json.dump({"summary": summary, "picks": picks}, fh, indent=1)
    return summary


def baseline_markdown(summary: dict, table: str = "table") -> str:
    s = dict(summary, table=summary[table], latency_60s_median=None, latency_60s_max=None)
    text = markdown(s)
    if "threshold_hashes" in summary:
        return text.rsplit("\n", 1)[0] + (
            f"\n{summary['baseline']}: threshold {summary['threshold_hashes']} aligned hashes (one above the most any "
            f"negative query reached); fingerprinting {summary['ingest_x_realtime']}x realtime; "
            f"{summary['index_mb_per_hour']} MB per hour; matching all queries {summary['scan_seconds']} s."
        )
    return text.rsplit("\n", 1)[0] + (
        f"\nChromaprint: threshold BER <= {summary['threshold_ber']} (lowest negative {summary['lowest_negative_ber']}); "
        f"fingerprinting {summary['ingest_x_realtime']}x realtime (fpcalc, decode included); "
        f"{summary['index_mb_per_hour']} MB per hour; words per query {summary['words_per_query']}."
    )
