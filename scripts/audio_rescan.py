"""Scan an audio bench run's queries again, on that run's own library, with this tree's
code (and settings), and compare each answer with the one the run recorded.

    .venv/bin/python scripts/audio_rescan.py BENCH_DIR OUT.json [--set verify.pad=3.0 ...] [--every N]

BENCH_DIR is a run's ``audio-full`` (or ``audio-quick``) folder: ``results.json`` and
``library``. A change that leaves the stored fingerprints alone (the query side, the
decision) is measured this way on the same queries and library, without registering
again; the run's own figures stay the reference. Prints the totals (top-1, segment,
false positives, claims on other works) before and after, and every edit and length
whose counts moved; OUT.json has each query's two answers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

from reeltrace.audio.config import AudioConfig
from reeltrace.bench.audio.dataset import Query
from reeltrace.bench.audio.run import answer_marks
from reeltrace.library import Library
from reeltrace.settings import with_settings

MEASURES = ("top1", "segment", "fp", "others")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bench")
    p.add_argument("out")
    p.add_argument("--set", action="append", default=[], help="an AudioConfig field, NAME=VALUE (dotted)")
    p.add_argument("--every", type=int, default=1, help="scan every Nth query only")
    args = p.parse_args(argv)
    with open(os.path.join(args.bench, "results.json"), encoding="utf-8") as fh:
        recorded = json.load(fh)["queries"][:: args.every]
    config = with_settings(AudioConfig(), args.set)
    rows = []
    with Library(os.path.join(args.bench, "library"), audio=config) as lib:
        # Sources are compared as real paths: a run given a relative --media records them so.
        path_of = {w.key: os.path.realpath(w.source_path) for w in lib.works()}
        for n, r in enumerate(recorded):
            q = Query(**{k: v for k, v in r.items() if k != "result"})
            q.truth = os.path.realpath(q.truth) if q.truth else None
            res = lib.scan(q.path)
            if res.error:
                print(f"{q.path}: {res.error}", file=sys.stderr)
            marks = answer_marks(res.matches, q, path_of)
            new = {k: marks[k] for k in MEASURES[:3]}
            new["others"] = sum(1 for m in res.matches if q.truth and path_of.get(m.work.key) != q.truth)
            old = {k: r["result"][k] for k in MEASURES[:3]} | {"others": len(r["result"]["other_works"])}
            rows.append({"path": q.path, "edit": q.edit, "length": q.length, "split": q.split, "old": old, "new": new})
            if (n + 1) % 500 == 0:
                print(f"  scanned {n + 1}/{len(recorded)}", file=sys.stderr, flush=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(rows, fh)
    totals = {f"{k} {w}": sum(int(r[w][k]) for r in rows) for k in MEASURES for w in ("old", "new")}
    print(", ".join(f"{k}: {v}" for k, v in totals.items()))
    moved = Counter((r["edit"], r["length"], k, r["old"][k], r["new"][k]) for r in rows for k in MEASURES[:2] if r["old"][k] != r["new"][k])
    for (edit, length, k, was, now), n in sorted(moved.items()):
        print(f"  {edit} {length:g} s {k}: {was} -> {now} in {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
