"""``reeltrace bench --audio`` and ``python -m reeltrace.bench.audio``: a run, a baseline
on a finished run, or its overlay levels."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from ..media import default_media
from .baselines import AUDFPRINT_MIN_COUNT, baseline_markdown, run_audfprint_baseline, run_chromaprint_baseline
from .levels import levels_markdown, overlay_levels
from .run import markdown, run_audio_bench


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="reeltrace bench --audio")
    p.add_argument("--media", action="append")
    p.add_argument("--out", default="bench-out")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline", choices=["chromaprint", "audfprint"], help="run the baseline on the queries of a finished run in --out")
    p.add_argument("--levels", action="store_true", help="a finished run in --out: its mixed edits by in-band overlay level, and its overlays replayed quieter")
    args = p.parse_args(argv)
    return bench_audio(args)


def bench_audio(args) -> int:
    if shutil.which("ffmpeg") is None:
        print("reeltrace: bench needs the ffmpeg command (Debian: apt-get install ffmpeg)", file=sys.stderr)
        return 1
    media = args.media or default_media()
    out = os.path.join(args.out, "audio-quick" if args.quick else "audio-full")
    started = time.perf_counter()
    baseline = getattr(args, "baseline", None)
    if isinstance(baseline, list):  # ``reeltrace bench --audio --baseline NAME`` (repeatable there)
        baseline = baseline[-1] if baseline else None
    reads_a_run = baseline in ("chromaprint", "audfprint") or getattr(args, "levels", False)
    if reads_a_run and not os.path.exists(os.path.join(out, "results.json")):
        print(f"reeltrace: no finished audio run in {out} (run reeltrace bench --audio first)", file=sys.stderr)
        return 1
    if baseline == "audfprint":
        summary = run_audfprint_baseline(out, media, seed=args.seed, quick=args.quick)
        print(baseline_markdown(summary))
        print(f"\nAt its own rule, {AUDFPRINT_MIN_COUNT} aligned hashes:\n" + baseline_markdown(summary, "table_min_count_5"))
        print(f"total {time.perf_counter() - started:.0f} s; details in {out}/baseline-audfprint.json")
        return 0
    if baseline == "chromaprint":
        summary = run_chromaprint_baseline(out, media, seed=args.seed, quick=args.quick)
        print(baseline_markdown(summary))
        print("\nAt BER <= 0.35:\n" + baseline_markdown(summary, "table_ber_0.35"))
        print(f"total {time.perf_counter() - started:.0f} s; details in {out}/baseline-chromaprint.json")
        return 0
    if getattr(args, "levels", False):
        print(levels_markdown(overlay_levels(out)))
        return 0
    summary = run_audio_bench(media, out, seed=args.seed, quick=args.quick)
    print(markdown(summary))
    print(f"total {time.perf_counter() - started:.0f} s; details in {out}/results.json")
    return 0
