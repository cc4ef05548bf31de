"""More excerpts under the bench's edits: its per-edit figures on a larger sample.

    .venv/bin/python scripts/audio_excerpts.py BENCH_DIR OUT_DIR [--per-source 8] [--length 5]
        [--edit "pink noise 0 dB"] [--edit "music bed +6 dB"] [--seed 33]
        [--media ../shared/media --media ~/.cache/reeltrace-media] [--set landmarks.query_fan_out=6 ...]

The audio bench renders one excerpt per source, edit and length: 28 positive sources, so
one query moves a per-edit figure by 3.6 points, and runs of the bench (each draws its own
excerpts) have read 0 dB pink noise at 5 s as 79%, 71% and 75%. This study
takes the positive sources of a bench run (``BENCH_DIR``: its ``results.json`` and
``library``), draws ``--per-source`` new excerpts of each (starts drawn with ``--seed``,
so not the bench's), renders them under each ``--edit`` exactly as the bench does
(``dataset.make_query``), scans them on the run's library and counts them as the bench
does (``run.answer_marks``). An overlay edit (voice-over, music bed) draws what it lays
over each excerpt from the run's unregistered recordings, as the bench does
(``dataset.draw_overlay``): give the run's ``--media``. It prints top-1 per edit overall,
per calibration half and per source; OUT_DIR keeps the rendered queries (reused by name)
and ``rows.json`` (``rows-NAME=VALUE.json`` with ``--set``, which scans with another
setting). ``--edit all`` takes every edit of the bench. docs/audio.md section 14
has the stop-33 draws.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict

import numpy as np

from reeltrace.bench.audio.dataset import EDITS, Item, Plan, Query, audio_info, draw_overlay, make_query, select
from reeltrace.bench.audio.run import answer_marks, claim_is_wrong, shared_claim
from reeltrace.audio.config import AudioConfig
from reeltrace.library import Library
from reeltrace.settings import with_settings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bench")
    p.add_argument("out")
    p.add_argument("--per-source", type=int, default=8)
    p.add_argument("--length", type=float, default=5.0)
    p.add_argument("--edit", action="append", help="an edit of the bench, by name (repeatable), or 'all'")
    p.add_argument("--seed", type=int, default=33)
    p.add_argument("--media", action="append", default=[], help="the run's media folders (for overlay edits)")
    p.add_argument("--set", action="append", default=[], help="an AudioConfig field for the scans, NAME=VALUE (dotted)")
    args = p.parse_args(argv)
    try:
        config = with_settings(AudioConfig(), args.set)
    except ValueError as err:
        raise SystemExit(f"audio_excerpts: --set: {err}") from None
    edits = {e.name: e for e in EDITS}
    chosen = args.edit or ["pink noise 0 dB"]
    if chosen == ["all"]:
        chosen = list(edits)
    unknown = [name for name in chosen if name not in edits]
    if unknown:
        raise SystemExit(f"audio_excerpts: no bench edit named {unknown[0]!r}")
    if args.per_source < 1:
        raise SystemExit("audio_excerpts: --per-source must be at least 1")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise SystemExit(f"audio_excerpts: {args.out} is a file, not a folder for the queries")
    try:
        with open(os.path.join(args.bench, "results.json"), encoding="utf-8") as fh:
            run = json.load(fh)
        recorded, summary = run["queries"], run["summary"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"audio_excerpts: {args.bench} is not an audio bench run's folder ({type(err).__name__}: {err})") from None
    if not os.path.isdir(os.path.join(args.bench, "library")):
        raise SystemExit(f"audio_excerpts: {args.bench} has no library folder")
    pool: list[Item] = []
    if any(edits[name].overlay_kind for name in chosen):
        if not args.media:
            raise SystemExit("audio_excerpts: an overlay edit needs the run's --media (its unregistered recordings)")
        plan = Plan.quick() if summary.get("quick") else Plan.full()
        _, _, pool = select(args.media, args.bench, int(summary.get("seed", 0)), plan)
    sources: dict[str, tuple[str, str]] = {}
    for r in recorded:
        if r["truth"] and r["length"] == args.length:
            # A run given a relative --media records relative paths: they hold from the
            # folder it ran in, and only there do they name the library's works.
            if not os.path.exists(r["truth"]):
                raise SystemExit(f"audio_excerpts: the run's source {r['truth']} is not found from here; "
                                 "run this from the folder the bench ran in")  # fmt: skip
            sources.setdefault(os.path.realpath(r["truth"]), (r["kind"], r["split"]))
    if not sources:
        raise SystemExit(f"audio_excerpts: the run has no positive queries of {args.length:g} s to take sources from")
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    rows, unrendered = [], 0
    with Library(os.path.join(args.bench, "library"), audio=config) as lib:
        path_of = {w.key: os.path.realpath(w.source_path) for w in lib.works()}
        for si, (path, (kind, split)) in enumerate(sorted(sources.items())):
            info = audio_info(path)
            if info is None:
                print(f"audio_excerpts: {path}: no audio stream; skipped", file=sys.stderr)
                continue
            duration, rate = info
            item = Item(path, "", kind, duration, rate, registered=True)
            for k in range(args.per_source):
                for ei, name in enumerate(chosen):
                    # A start of its own for every query, as the bench draws them.
                    start = float(rng.uniform(0.5, max(duration - args.length - 0.5, 0.6)))
                    edit = edits[name]
                    # The name holds everything the render depends on, so that a file is
                    # reused only for the same query.
                    stem = f"s{si:03d}_{k:02d}_{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}_{args.length:g}s_{start:.3f}"
                    overlay = None
                    if edit.overlay_kind:
                        mine = [o for o in pool if o.kind == edit.overlay_kind and os.path.realpath(o.path) != path]
                        overlay = draw_overlay(edit, args.length, mine, rng)
                        if overlay is None:
                            raise SystemExit(f"audio_excerpts: no unregistered {edit.overlay_kind} long enough to lay over the excerpts")
                        stem += f"_{os.path.basename(overlay[0].path)}_{overlay[1]:.3f}"
                    out = os.path.join(args.out, f"{stem}.{edit.ext}")
                    if not os.path.exists(out):
                        # The stop-33 draws' noise seeds; ffmpeg takes 32 bits.
                        noise_seed = (args.seed * 100003 + si * 1000 + k * 10 + ei) % (1 << 32)
                        part = os.path.join(args.out, f"{stem}.part.{edit.ext}")
                        try:
                            make_query(item, start, args.length, edit, part, noise_seed, overlay)
                            os.replace(part, out)  # a render cut short is never reused
                        except (RuntimeError, OSError) as err:
                            unrendered += 1
                            print(f"audio_excerpts: {os.path.basename(path)} under {name}: not rendered: {str(err).splitlines()[0]}",
                                  file=sys.stderr)  # fmt: skip
                            continue
                    q = Query(out, name, args.length, kind, path, start, edit.speed, split)
                    matches = lib.scan(out).matches
                    marks = answer_marks(matches, q, path_of)
                    # A claim on another work is wrong unless said to share the recording
                    # and confirmed on the two works' own audio, as the bench counts it.
                    right = [m for m in matches if path_of.get(m.work.key) == path]
                    others = [shared_claim(m, right, path_of) for m in matches if path_of.get(m.work.key) != path]
                    wrong_claims = sum(claim_is_wrong(said, check) for said, check in others)
                    rows.append({"source": path, "split": split, "edit": name, "start": start, "others": len(others),
                                 "wrong_claims": wrong_claims, **marks})  # fmt: skip
            print(f"  {si + 1}/{len(sources)} sources", file=sys.stderr, flush=True)
    if unrendered:
        print(f"audio_excerpts: {unrendered} queries could not be rendered and are not counted", file=sys.stderr)
    with open(os.path.join(args.out, "rows" + "".join(f"-{s}" for s in args.set) + ".json"), "w", encoding="utf-8") as fh:
        json.dump(rows, fh)
    if len(chosen) > 1:
        found = sum(r["top1"] for r in rows)
        print(f"every edit, {args.length:g} s: top-1 {found}/{len(rows)} ({100 * found / max(len(rows), 1):.1f}%), "
              f"other works claimed {sum(r['others'] for r in rows)}, of them wrong {sum(r['wrong_claims'] for r in rows)}")  # fmt: skip
    for name in chosen:
        mine = [r for r in rows if r["edit"] == name]
        found = sum(r["top1"] for r in mine)
        print(f"{name}, {args.length:g} s: top-1 {found}/{len(mine)} ({100 * found / max(len(mine), 1):.1f}%), "
              f"wrong work first {sum(r['wrong'] for r in mine)}, other works claimed {sum(r['others'] for r in mine)}, "
              f"of them wrong {sum(r['wrong_claims'] for r in mine)}")  # fmt: skip
        for split in ("fit", "test"):
            half = [r for r in mine if r["split"] == split]
            print(f"  {split} half: {sum(r['top1'] for r in half)}/{len(half)}")
        per = defaultdict(list)
        for r in mine:
            per[r["source"]].append(r["top1"])
        weak = sorted((sum(v), len(v), s) for s, v in per.items() if sum(v) < len(v))
        print("  sources short of all: " + "; ".join(f"{os.path.basename(s)} {a}/{n}" for a, n, s in weak))
    return 0


if __name__ == "__main__":
    sys.exit(main())
