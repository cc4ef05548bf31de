"""A study set of layouts over a finished full bench's works, from one half of its footage.

    .venv/bin/python scripts/pip_study.py bench-out/full pip-study [--seed 1701] [--set pip|layouts|cells|dark_filmed] [--half tune|report]

The full bench holds 2-8 queries of each layout per half: too few to see why one fails, or
to say whether a layout's recall is above a target. The set is rendered from one half's
registered works only and over the same half's unregistered footage, with the bench's own
edits (``bench.video.edits``); each query's ground truth also keeps the edits' notes (size,
style, corner). Scan it over the full bench's library with ``scripts/scan_variant.py``.

- ``--set pip`` (the default): 16 ``pip_styled``, 12 ``pip_work_small``, 12 ``web_player``,
  6 mirrored ``pip_styled`` and 4 sped-up ``pip_work_small`` queries, and 14 negatives of
  the same layouts. For study: use the tune half.
- ``--set cells``: the 3x3 grid and the filmed screen, 16 each alone, 1 mirrored and 1
  sped up, 4 negatives each.
- ``--set dark_filmed``: 16 works darkened (``dark``, a study edit) on a filmed TV, and 4
  negatives the same.
- ``--set layouts``: every layout of ``edits.LAYOUTS``, 8 alone, 2 mirrored and 2 sped up
  each, and 3 negatives of each. With ``--half report`` and a seed never used before, it is a
  larger sample of the report half to measure (never to tune) on.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from dataclasses import asdict

from reeltrace.bench.media import default_media
from reeltrace.bench.video.dataset import REPORT, TUNE, QueryEntry, Truth, discover, duration_of, half_of, probe, render
from reeltrace.bench.video.edits import EDITS, LAYOUTS, Context, Edit

POSITIVES = [["pip_styled"]] * 16 + [["pip_work_small"]] * 12 + [["web_player"]] * 12 + [["mirror", "pip_styled"]] * 6 \
    + [["speed", "pip_work_small"]] * 4  # fmt: skip
NEGATIVES = [["pip_styled"]] * 6 + [["web_player"]] * 4 + [["pip_work_small"]] * 4
SETS = {
    "pip": (POSITIVES, NEGATIVES),
    "layouts": ([[layout] for layout in LAYOUTS for _ in range(8)] + [[first, layout] for layout in LAYOUTS
                for first in ("mirror", "mirror", "speed", "speed")],  # fmt: skip
                [[layout] for layout in LAYOUTS for _ in range(3)]),
    # The two layouts that shrink or degrade the work most, in numbers a 0.9 can be read on.
    "cells": ([["grid3"]] * 16 + [["filmed_screen"]] * 16 + [[first, layout] for layout in ("grid3", "filmed_screen")
              for first in ("mirror", "speed")],  # fmt: skip
              [[layout] for layout in ("grid3", "filmed_screen") for _ in range(4)]),
    # Dark works on a filmed TV: the report half's filmed-screen misses (stop 26), rebuilt
    # from either half's own works.
    "dark_filmed": ([["dark", "filmed_screen"]] * 16, [["dark", "filmed_screen"]] * 4),
}


def dark(rng: random.Random, ctx: Context) -> Edit:
    """A dim, flat picture (a night scene, a low-key drama). A study edit, not a bench one:
    the bench builder renders every edit of ``edits.EDITS``, and a new one would change its
    data set."""
    return Edit("dark", f"eq=brightness={-rng.uniform(0.15, 0.3):.2f}:contrast={rng.uniform(0.5, 0.8):.2f}")


STUDY_EDITS = {"dark": dark}


def edit(name: str, rng: random.Random, ctx: Context) -> Edit:
    return (STUDY_EDITS.get(name) or EDITS[name])(rng, ctx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", help="a finished full bench's data set folder (holds ground_truth.json)")
    parser.add_argument("out", help="folder for the study set")
    parser.add_argument("--seed", type=int, default=1701)
    parser.add_argument("--media", action="append", help="media folders (default: the bench's)")
    parser.add_argument("--set", choices=sorted(SETS), default="pip", help="which queries (see above)")
    parser.add_argument("--half", choices=[TUNE, REPORT], default=TUNE, help="whose works and footage")
    args = parser.parse_args()
    with open(os.path.join(args.bench, "ground_truth.json"), encoding="utf-8") as fh:
        truth = json.load(fh)
    rng = random.Random(args.seed)
    videos, music, speech, _ = discover(args.media or default_media())
    # By real path: the bench may have named its media relative to where it ran, and the
    # default media folders are absolute; a registered work taken for "other" footage would
    # put its own content into negatives.
    registered = {os.path.realpath(p) for w in truth["works"] for p in (w["path"], *w.get("parts", ()))}
    registered_families = {v.family for v in videos if os.path.realpath(v.path) in registered}
    if not registered_families:
        raise SystemExit(f"error: none of the bench's works is among the videos of {', '.join(args.media or default_media())}"
                         ": give the bench's media with --media")
    half = args.half
    positives, negatives = SETS[args.set]
    others = [v for v in videos if half_of(v.family) == half and v.family not in registered_families]
    works = [w for w in truth["works"] if w["half"] == half]
    if not works or len(others) < 2:
        raise SystemExit(f"error: {len(works)} {half}-half works in {args.bench} and {len(others)} unregistered {half}-half videos "
                         f"in {', '.join(args.media or default_media())}: need 1 and 2 (give the bench's media with --media)")
    os.makedirs(os.path.join(args.out, "queries"), exist_ok=True)
    queries = []

    def context(avoid: str | None = None) -> Context:
        return Context(other_video=rng.choice([o for o in others if o.path != avoid]).path,
                       music=rng.choice(music) if music else None, speech=rng.choice(speech) if speech else None)  # fmt: skip

    for n, names in enumerate(positives):
        work = rng.choice(works)
        ctx = context()
        length = min(rng.uniform(8, 40), work["duration"] - 0.5)
        start = rng.uniform(0, max(work["duration"] - length - 0.2, 0))
        path = os.path.join(args.out, "queries", f"p{n:03d}.mp4")
        edits = [edit(e, rng, ctx) for e in names]
        speed = render(work["path"], start, length, edits, path, probe(work["path"]).has_audio, ctx, reuse=True)
        qdur = duration_of(path)
        seg = Truth(work["id"], 0.0, min(qdur, length / speed), start, start + min(length, qdur * speed))
        queries.append(asdict(QueryEntry(f"p{n:03d}", path, "single", names, [seg], qdur, half)) | {"notes": [e.notes for e in edits]})
    for n, names in enumerate(negatives):
        src = rng.choice(others)
        ctx = context(avoid=src.path)
        length = min(rng.uniform(8, 40), src.duration - 0.5)
        start = rng.uniform(0, max(src.duration - length - 0.2, 0))
        path = os.path.join(args.out, "queries", f"n{n:03d}.mp4")
        edits = [edit(e, rng, ctx) for e in names]
        render(src.path, start, length, edits, path, src.has_audio, ctx, reuse=True)
        queries.append(asdict(QueryEntry(f"n{n:03d}", path, "negative", names, [], duration_of(path), half)) | {"notes": [e.notes for e in edits]})
    with open(os.path.join(args.out, "ground_truth.json"), "w", encoding="utf-8") as fh:
        json.dump({**truth, "queries": queries}, fh, indent=1)
    print(f"{len(queries)} queries in {args.out}")


if __name__ == "__main__":
    main()
