"""Run reeltrace (and baselines) on a data set and report accuracy and speed.

The data set comes from ``dataset.build_dataset``; metrics from ``reeltrace.bench.metrics``.
Results go to ``<out>/results.json`` and a Markdown report on standard output.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import time
from collections import defaultdict

from ...library import Library
from ..metrics import Box, localisation_errors, segment_prf, segment_uap, video_ap
from . import baselines
from .records import SystemRun


def truths_of(truth: dict) -> list[Box]:
    return [
        Box(q["id"], s["work"], s["query_start"], s["query_end"], s["work_start"], s["work_end"])
        for q in truth["queries"]
        for s in q["segments"]
    ]


def run_reeltrace(truth: dict, library_dir: str, model: str | None = None) -> SystemRun:
    run = SystemRun("reeltrace" if model is None else f"reeltrace ({model})")
    shutil.rmtree(library_dir, ignore_errors=True)
    ids: dict[str, str] = {}
    with Library(library_dir, model=model) as lib:
        lib.embedder  # model load is a one-off, not per-file cost
        for work in truth["works"]:
            started = time.perf_counter()
            result = lib.register(work["path"], title=work["title"], category=work["category"], work_id=work["id"])
            run.register_seconds += time.perf_counter() - started
            if result.error:
                run.errors[work["id"]] = result.error
                continue
            ids[result.work.work_id] = work["id"]
            run.registered_seconds += result.work.duration
        scan_queries(truth, lib, ids, run)
    run.index_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(library_dir) for f in fs)
    run.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return run


def scan_queries(truth: dict, lib: Library, ids: dict[str, str], run: SystemRun) -> None:
    """Scan every query of the data set into ``run`` (``ids``: library work id -> data set work id)."""
    lib.index()
    for query in truth["queries"]:
        started = time.perf_counter()
        result = lib.scan(query["path"])
        run.scan_seconds += time.perf_counter() - started
        run.scanned_seconds += result.duration
        if result.error:
            run.errors[query["id"]] = result.error
        for match in result.matches:
            for seg in match.segments:
                run.predictions.append(Box(query["id"], ids.get(match.work.work_id, match.work.work_id),
                                           seg.query_start, seg.query_end, seg.work_start, seg.work_end,
                                           seg.score))  # fmt: skip


def evaluate(truth: dict, run: SystemRun, threshold: float) -> dict:
    """All metrics of the issue for one system's run, over all queries and (``halves``) over
    each half of the sources by origin (``dataset.half_of``): choices are tuned on ``tune``,
    and ``report`` says whether they generalise."""
    report = _evaluate(truth, run, threshold)
    report["halves"] = {}
    for half in ("tune", "report"):
        queries = [q for q in truth["queries"] if q.get("half", "tune") == half]
        if queries:
            part = _evaluate({**truth, "queries": queries}, run, threshold)
            report["halves"][half] = {k: part[k] for k in HALF_KEYS}
    return report


HALF_KEYS = ("queries", "segment_uap", "segment_precision", "segment_recall", "video_ap", "negatives",
             "false_works_on_negatives", "per_edit_recall", "per_kind_recall")  # fmt: skip


def sharing_pairs(truth: dict) -> set[tuple[str, str]]:
    """(query, work) pairs that are true but unlabelled: a query cut from a registered work
    that shows another registered work's footage (``dataset.SAME_FOOTAGE``: a screen
    recording of a player playing the other clip), or an episode joined from such a clip.
    Claims on them are neither right nor wrong; where in the frame and when the other
    work plays is not in the ground truth."""
    from .dataset import SAME_FOOTAGE

    def works_of(path: str) -> set[str]:
        # A work is the clip itself, or an episode joined from it (``WorkEntry.parts``).
        def shows(source: str) -> bool:
            return source.replace(os.sep, "/").endswith("/" + path)

        return {w["id"] for w in truth["works"] if shows(w["path"]) or any(shows(s) for s in w.get("parts", ()))}

    siblings: dict[str, set[str]] = defaultdict(set)
    for pair in SAME_FOOTAGE:
        ids = set().union(*(works_of(p) for p in sorted(pair)))
        for a in ids:
            siblings[a].update(ids - {a})
    return {(q["id"], other) for q in truth["queries"] for s in q["segments"] for other in siblings.get(s["work"], ())}


def _evaluate(truth: dict, run: SystemRun, threshold: float) -> dict:
    truths = truths_of(truth)
    asked = {q["id"] for q in truth["queries"]}
    unlabelled = sharing_pairs(truth)
    preds = [p for p in run.predictions if p.query in asked and (p.query, p.work) not in unlabelled]
    kept = [p for p in preds if p.score >= threshold]
    by_query = {q["id"]: q for q in truth["queries"]}
    negatives = [q["id"] for q in truth["queries"] if q["kind"] == "negative"]
    false_works = sorted({(p.query, p.work) for p in kept if p.query in negatives})

    def recall_of(query_ids: set[str]) -> float:
        t = [b for b in truths if b.query in query_ids]
        p = [b for b in kept if b.query in query_ids]
        return segment_prf(t, p, threshold).recall if t else float("nan")

    per_edit = {}
    singles: dict[str, set[str]] = defaultdict(set)
    for q in truth["queries"]:
        if q["kind"] == "single":
            singles[q["edits"][0]].add(q["id"])
        elif q["kind"] == "layout_combo":
            singles["+".join(q["edits"])].add(q["id"])
    for edit, qids in sorted(singles.items()):
        per_edit[edit] = {"queries": len(qids), "recall": recall_of(qids)}
    kinds: dict[str, set[str]] = defaultdict(set)
    for q in truth["queries"]:
        kinds[q["kind"]].add(q["id"])
    per_kind = {k: {"queries": len(v), "recall": recall_of(v)} for k, v in sorted(kinds.items()) if k != "negative"}
    prf = segment_prf(truths, kept, threshold)
    errors = localisation_errors(truths, kept)
    # A query's wrong work claims: predicted (query, work) pairs with no truth for that pair.
    true_pairs = {(b.query, b.work) for b in truths}
    wrong_pairs = sorted({(p.query, p.work) for p in kept if (p.query, p.work) not in true_pairs})
    return {
        "system": run.name,
        "threshold": threshold,
        "segment_uap": segment_uap(truths, preds),
        "segment_precision": prf.precision,
        "segment_recall": prf.recall,
        "segment_f1": prf.f1,
        "video_ap": video_ap(truths, preds),
        "negatives": len(negatives),
        "false_works_on_negatives": len(false_works),
        "video_precision_on_negatives": 1.0 - len({q for q, _ in false_works}) / max(len(negatives), 1),
        "wrong_work_claims": [list(p) for p in wrong_pairs],
        "median_localisation_error": statistics.median(errors) if errors else float("nan"),
        "per_edit_recall": per_edit,
        "per_kind_recall": per_kind,
        "register_x_realtime": run.registered_seconds / run.register_seconds if run.register_seconds else float("nan"),
        "scan_x_realtime": run.scanned_seconds / run.scan_seconds if run.scan_seconds else float("nan"),
        "library_bytes_per_hour": run.index_bytes / (run.registered_seconds / 3600) if run.registered_seconds else 0,
        "peak_rss_mb": run.peak_rss_mb,
        "errors": run.errors,
        "queries": len(by_query),
    }


def markdown(reports: list[dict]) -> str:
    """The report tables: overall per system, then per edit."""
    lines = ["| system | segment uAP | P | R | F1 | video AP | false works on negatives | median loc. error (s) "
             "| register x RT | scan x RT | MB/hour | peak RSS MB |", "|" + "---|" * 12]  # fmt: skip
    for r in reports:
        lines.append(
            f"| {r['system']} | {r['segment_uap']:.3f} | {r['segment_precision']:.3f} | {r['segment_recall']:.3f} "
            f"| {r['segment_f1']:.3f} | {r['video_ap']:.3f} | {r['false_works_on_negatives']} / {r['negatives']} "
            f"| {r['median_localisation_error']:.2f} | {r['register_x_realtime']:.1f} | {r['scan_x_realtime']:.1f} "
            f"| {r['library_bytes_per_hour'] / 1e6:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    halves = [(r["system"], h, r["halves"][h]) for r in reports for h in ("tune", "report") if h in r.get("halves", {})]
    if halves:
        lines += ["", "| system | half | queries | segment uAP | P | R | video AP | false works on negatives |",
                  "|" + "---|" * 8]  # fmt: skip
        for system, half, h in halves:
            lines.append(f"| {system} | {half} | {h['queries']} | {h['segment_uap']:.3f} | {h['segment_precision']:.3f} "
                         f"| {h['segment_recall']:.3f} | {h['video_ap']:.3f} | {h['false_works_on_negatives']} / {h['negatives']} |")  # fmt: skip
    columns = [(r["system"], r) for r in reports]
    if len(reports) == 1 and halves:
        columns += [(f"{half} half", h) for _, half, h in halves]
    lines += ["", "| recall at the default threshold | " + " | ".join(c for c, _ in columns) + " |",
              "|---|" + "---|" * len(columns)]  # fmt: skip
    for key, label in (("per_edit_recall", "{}"), ("per_kind_recall", "all {} queries")):
        for name in sorted({n for _, r in columns for n in r[key]}):
            cells = [f"{v['recall']:.2f} (n={v['queries']})" if (v := r[key].get(name)) else "-" for _, r in columns]
            lines.append(f"| {label.format(name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_bench(dataset_dir: str, threshold: float = 0.5, baseline_names: tuple[str, ...] = (), model: str | None = None) -> list[dict]:
    with open(os.path.join(dataset_dir, "ground_truth.json"), encoding="utf-8") as fh:
        truth = json.load(fh)
    run = run_reeltrace(truth, os.path.join(dataset_dir, "library" if model is None else f"library-{model}"), model)
    reports = [evaluate(truth, run, threshold)]
    runs = [run]
    for name in baseline_names:
        run = baselines.RUNNERS[name](truth, os.path.join(dataset_dir, f"baseline-{name}"))
        reports.append(evaluate(truth, run, baselines.THRESHOLDS[name]))
        runs.append(run)
    for run in runs:  # every predicted segment, for looking into what went wrong
        with open(os.path.join(dataset_dir, f"predictions-{run.name.replace(' ', '_')}.json"), "w", encoding="utf-8") as fh:
            json.dump([p.__dict__ for p in run.predictions], fh)
    name = "results.json" if model is None else f"results-{model}.json"
    with open(os.path.join(dataset_dir, name), "w", encoding="utf-8") as fh:
        json.dump(reports, fh, indent=1, default=str)
    return reports
