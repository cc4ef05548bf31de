"""Measure a matcher variant on the queries of a finished audio benchmark run.

    .venv/bin/python scripts/audio_variants.py [--run bench-out/audio-quick] [NAME=VALUE ...]

Each NAME=VALUE sets a ``MatchParams`` field (``max_candidates=400``) or a module constant
of ``reeltrace.audio`` / ``reeltrace.audio_match`` (``QUERY_PEAKS_PER_BLOCK=32``) for this
run only. The run's registered works are fingerprinted again and its rendered queries are
matched straight through ``AudioIndex.match`` (no library, about half the time of the
bench's scan), labelled as the bench labels them (``calibration_rows``), and the score is
refit by two-fold cross-validation (``cross_validated_fit``). Printed: top-1 per length at
the refit and at the shipped constants (a query counts when its best segment at 0.5 is
the right one), the margin the refit needed, and the match time. Docs/audio.md reports
the variants of stop 11 measured with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from reeltrace.audio import config as audio, landmarks, match as audio_match, score as audio_score
from reeltrace.bench.audio.run import LENGTHS, Plan, Query, calibration_rows, cross_validated_fit, default_media, select


def _apply(settings: list[str]) -> audio_match.MatchParams:
    fields = {}
    for item in settings:
        name, _, value = item.partition("=")
        if name in audio_match.MatchParams.__dataclass_fields__:
            fields[name] = type(getattr(audio_match.MatchParams(), name))(value)
            continue
        module = next((m for m in (audio_match, audio) if hasattr(m, name)), None)
        if module is None:
            raise SystemExit(f"audio_variants: no setting {name}")
        setattr(module, name, type(getattr(module, name))(value))
    return audio_match.MatchParams(**fields)


def top1(rows: list[dict], queries: list[Query], consts: dict) -> dict[float, float]:
    """Share of positive queries per length whose best segment at 0.5 is labelled right."""
    best: dict[str, tuple[float, int]] = {}
    for r in rows:
        z = (consts["C0"] + consts["C_DISTINCT"] * np.log(max(r["distinct"], 1)) + consts["C_DENSITY"] * r["density"]
             + consts["C_VERIFIED"] * r["verified"])  # fmt: skip
        if z >= 0 and z > best.get(r["query"], (-np.inf, 0))[0]:
            best[r["query"]] = (z, r["label"])
    out = {}
    for length in LENGTHS:
        pos = [os.path.basename(q.path) for q in queries if q.truth and q.length == length]
        out[length] = float(np.mean([best.get(name, (0, 0))[1] == 1 for name in pos])) if pos else 0.0
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="audio_variants")
    p.add_argument("--run", default="bench-out/audio-quick", help="a finished `reeltrace bench --audio` run folder")
    p.add_argument("settings", nargs="*", metavar="NAME=VALUE")
    args = p.parse_args(argv)
    params = _apply(args.settings)
    with open(os.path.join(args.run, "results.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    quick = bool(data["summary"]["quick"])
    _, reg, _ = select(default_media(), args.run, int(data["summary"]["seed"]), Plan.quick() if quick else Plan.full())
    index = audio_match.AudioIndex()
    path_of = {}
    for key, item in enumerate(reg):
        index.add(key, audio.fingerprint_file(item.path))
        path_of[key] = item.path
    queries = [Query(**{k: v for k, v in q.items() if k != "result"}) for q in data["queries"]]
    rows: list[dict] = []
    started = time.perf_counter()
    for q in queries:
        rows += calibration_rows(q, index.match(audio.fingerprint_query(*audio.decode_audio(q.path)), params), path_of)
    elapsed = time.perf_counter() - started
    fit = cross_validated_fit(rows)
    shipped = {"C0": audio_match.C0, "C_DISTINCT": audio_match.C_DISTINCT, "C_DENSITY": audio_match.C_DENSITY,
               "C_VERIFIED": audio_match.C_VERIFIED}  # fmt: skip

    def pct(t: dict[float, float]) -> str:
        return " / ".join(f"{100 * t[length]:.1f}%" for length in LENGTHS)

    print(f"settings: {' '.join(args.settings) or '(none)'}; {len(queries)} queries matched in {elapsed:.0f} s; "
          f"{len(rows)} segments")  # fmt: skip
    print(f"refit (margin {fit['margin']}, C0 {fit['C0']}, C_DISTINCT {fit['C_DISTINCT']}, "
          f"C_VERIFIED {fit['C_VERIFIED']}): top-1 {pct(top1(rows, queries, fit))}")  # fmt: skip
    print(f"shipped constants: top-1 {pct(top1(rows, queries, shipped))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
