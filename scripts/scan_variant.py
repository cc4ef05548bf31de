"""Scan a bench data set's queries over its library with a variant of the video chain.

    .venv/bin/python scripts/scan_variant.py DATASET LIBRARY NAME [NAME=VALUE ...] [--only EXPR]

Each NAME=VALUE sets a field of ``VideoConfig``, dotted for nested fields
(``layouts.step_sides=False``), read as the field's type (``reeltrace.settings``). ``--only`` keeps the queries for
which a Python expression over ``q`` (a ground-truth query) is true. The library is scanned
from a copy, so a scan's history never lands in it. Writes ``DATASET/eval-NAME.json`` (the
bench's metrics, both halves) and ``DATASET/preds-NAME.json``, and prints the summary and the
queries found below 0.9 of their ground truth. With ``--register`` the data set's works are
registered afresh with the variant into a new library (for a change to what a work stores),
and LIBRARY is not read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from rich.progress import track

from reeltrace.bench.metrics import Box, segment_prf
from reeltrace.bench.video.records import SystemRun
from reeltrace.bench.video.run import evaluate, truths_of
from reeltrace.library import Library
from reeltrace.settings import with_settings
from reeltrace.video.config import VideoConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("library")
    parser.add_argument("name")
    parser.add_argument("settings", nargs="*", metavar="NAME=VALUE")
    parser.add_argument("--only", default="True")
    parser.add_argument("--register", action="store_true", help="register the works again with the variant")
    args = parser.parse_args()
    try:
        config = with_settings(VideoConfig(), args.settings)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    with open(os.path.join(args.dataset, "ground_truth.json"), encoding="utf-8") as fh:
        truth = json.load(fh)
    truth["queries"] = [q for q in truth["queries"] if eval(args.only, {}, {"q": q})]
    run = SystemRun(args.name)
    with tempfile.TemporaryDirectory() as copy:
        if not args.register:
            shutil.copytree(args.library, copy, dirs_exist_ok=True)
        with Library(copy, video=config) as lib:
            if args.register:
                for work in track(truth["works"], description="registering"):
                    done = lib.register(work["path"], title=work["title"], category=work["category"], work_id=work["id"])
                    if done.error:
                        raise SystemExit(f"error: {work['id']}: {done.error}")
            lib.index()
            for query in track(truth["queries"], description="scanning"):
                result = lib.scan(query["path"])
                if result.error:
                    run.errors[query["id"]] = result.error
                for match in result.matches:
                    for seg in match.segments:
                        run.predictions.append(Box(query["id"], match.work.work_id, seg.query_start, seg.query_end,
                                                   seg.work_start, seg.work_end, seg.score))  # fmt: skip
    report = evaluate(truth, run, 0.5)
    with open(os.path.join(args.dataset, f"eval-{args.name}.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, default=str)
    with open(os.path.join(args.dataset, f"preds-{args.name}.json"), "w", encoding="utf-8") as fh:
        json.dump([p.__dict__ for p in run.predictions], fh)
    print(f"{args.name}: uAP {report['segment_uap']:.3f} P {report['segment_precision']:.3f} R {report['segment_recall']:.3f}, "
          f"false works {report['false_works_on_negatives']} / {report['negatives']}, wrong works {report['wrong_work_claims']}")  # fmt: skip
    for half, h in report["halves"].items():
        print(f"  {half}: uAP {h['segment_uap']:.3f} P {h['segment_precision']:.3f} R {h['segment_recall']:.3f}, "
              f"false works {h['false_works_on_negatives']} / {h['negatives']}")  # fmt: skip
    for edit, v in report["per_edit_recall"].items():
        print(f"    {edit}: {v['recall']:.2f} (n={v['queries']})")
    truths = truths_of(truth)
    kept = [p for p in run.predictions if p.score >= 0.5]
    for q in truth["queries"]:
        mine = [b for b in truths if b.query == q["id"]]
        if mine:
            recall = segment_prf(mine, [p for p in kept if p.query == q["id"]], 0.5).recall
            if recall < 0.9:
                print(f"  below 0.9: {q['id']} ({q['half']}, {'+'.join(q['edits'])}, {q['segments'][0]['work']}): {recall:.2f}")


if __name__ == "__main__":
    main()
