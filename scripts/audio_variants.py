"""Measure an audio chain variant on the queries of a finished audio benchmark run.

    .venv/bin/python scripts/audio_variants.py [--run bench-out/audio-quick] [NAME=VALUE ...]

Each NAME=VALUE sets a field of ``AudioConfig``, dotted for nested fields
(``match.max_candidates=400``, ``landmarks.query_peaks_per_block=32``, ``threshold=0.6``):
the variant is built by ``dataclasses.replace`` (``reeltrace.settings.with_settings``)
and nothing is patched. The run's registered works are registered again into a temporary
library opened with the variant (``Library(folder, audio=variant)``: work-side settings
change the hashes a work gets), and the run's rendered queries are scanned through
``Library.scan(..., trace=True)``, so a variant is measured on the production path and
nothing beside it. Every unthresholded audio segment of each trace is labelled as the
bench labels it (``calibration_rows``) and the score is refit by two-fold
cross-validation (``cross_validated_fit``). Printed: top-1 per length at the refit and at
the variant's own score constants (a query counts when its best segment at the threshold
is the right one), the margin the refit needed, and the scan time. docs/audio.md reports
the variants of stop 11 measured with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from reeltrace.audio.config import AudioConfig, AudioScoreModel
from reeltrace.audio.score import score_logit
from reeltrace.settings import with_settings
from reeltrace.bench.audio.calibration import calibration_rows, cross_validated_fit
from reeltrace.bench.audio.dataset import LENGTHS, Plan, Query, select
from reeltrace.bench.media import default_media
from reeltrace.library import Library


def top1(rows: list[dict], queries: list[Query], consts: dict, threshold: float, alone: float) -> dict[float, float]:
    """Share of positive queries per length whose best segment scoring at least
    ``threshold`` under ``consts`` is labelled right (``alone``: the verification that
    claims by itself, ``AudioScoreModel.verified_alone``)."""
    at_threshold = float(np.log(threshold / (1 - threshold)))  # the logit: 0 at 0.5
    model = AudioScoreModel(c0=consts["C0"], c_distinct=consts["C_DISTINCT"], c_density=consts["C_DENSITY"],
                            c_verified=consts["C_VERIFIED"], verified_alone=alone)  # fmt: skip
    best: dict[str, tuple[float, int]] = {}
    for r in rows:
        z = score_logit(r["distinct"], r["density"], r["verified"], model, r.get("spectral", 0.0))
        if z >= at_threshold and z > best.get(r["query"], (-np.inf, 0))[0]:
            best[r["query"]] = (z, r["label"])
    out = {}
    for length in LENGTHS:
        pos = [os.path.basename(q.path) for q in queries if q.truth and q.length == length]
        out[length] = float(np.mean([best.get(name, (0, 0))[1] == 1 for name in pos])) if pos else 0.0
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="audio_variants")
    p.add_argument("--run", default="bench-out/audio-quick", help="a finished `reeltrace bench --audio` run folder")
    p.add_argument("settings", nargs="*", metavar="NAME=VALUE", help="AudioConfig fields, dotted for nested ones")
    args = p.parse_args(argv)
    try:
        variant = with_settings(AudioConfig(), args.settings)
    except ValueError as err:
        raise SystemExit(f"audio_variants: {err}") from None
    with open(os.path.join(args.run, "results.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    quick = bool(data["summary"]["quick"])
    _, reg, _ = select(default_media(), args.run, int(data["summary"]["seed"]), Plan.quick() if quick else Plan.full())
    queries = [Query(**{k: v for k, v in q.items() if k != "result"}) for q in data["queries"]]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="audio-variant-") as folder, Library(folder, audio=variant) as lib:
        path_of = {}
        for n, item in enumerate(reg):
            registered = lib.register(item.path, category="audio", work_id=f"a{n:04d}")
            if registered.error:
                print(f"  register failed: {item.path}: {registered.error}", file=sys.stderr)
                continue
            path_of[registered.work.key] = item.path
        started = time.perf_counter()
        for q in queries:
            rows += calibration_rows(q, lib.scan(q.path, trace=True).trace.audio, path_of)
        elapsed = time.perf_counter() - started
    fit = cross_validated_fit(rows)
    model = variant.score
    own = {"C0": model.c0, "C_DISTINCT": model.c_distinct, "C_DENSITY": model.c_density, "C_VERIFIED": model.c_verified}

    def pct(t: dict[float, float]) -> str:
        return " / ".join(f"{100 * t[length]:.1f}%" for length in LENGTHS)

    print(f"settings: {' '.join(args.settings) or '(none)'}; {len(queries)} queries scanned in {elapsed:.0f} s; "
          f"{len(rows)} segments")  # fmt: skip
    print(f"refit (margin {fit['margin']}, C0 {fit['C0']}, C_DISTINCT {fit['C_DISTINCT']}, "
          f"C_VERIFIED {fit['C_VERIFIED']}): top-1 {pct(top1(rows, queries, fit, variant.threshold, model.verified_alone))}")  # fmt: skip
    print(f"the variant's score constants: top-1 {pct(top1(rows, queries, own, variant.threshold, model.verified_alone))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
