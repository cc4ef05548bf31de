"""Portrait works of the tune half in the bench's own 3x3 grid and filmed-screen edits
(``--set cells``, the default) or picture-in-picture edits (``--set pip``).

    .venv/bin/python scripts/portrait_study.py OUT [--media ../shared/media] [--seed 2601] [--set cells|pip]
    .venv/bin/python scripts/scan_variant.py OUT unused NAME [NAME=VALUE ...] --register

The bench's tune half has no portrait work, and its report half two (a 3x3 cell shrinks
them to a pillarboxed sliver): this set is the tune half's stand-in, to tune on.
Works: LivePortrait's portrait clips (tune origin, never registered by the bench), two of
its square clips, and two of its landscape clips cropped to 9:16 and 3:4. Cell fillers and
the filmed room: tune-half unregistered footage (Track-Anything, decord). Negatives: the
same layouts around unregistered LivePortrait faces and a 9:16 crop of other footage.
Writes OUT/works/*.mp4 (the crops), OUT/queries/*.mp4 and OUT/ground_truth.json, whose
works are these 8 only: ``scan_variant.py --register`` registers them into a fresh library.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from dataclasses import asdict

from reeltrace.bench.video.dataset import QueryEntry, Truth, duration_of, probe, render
from reeltrace.bench.video.edits import EDITS, Context

LIVE_PORTRAIT = "video/KwaiVGI+LivePortrait/assets/examples/"
FILLERS = ["video/gaomingqi+Track-Anything/test_sample/test-sample13.mp4", "video/gaomingqi+Track-Anything/test_sample/test-sample2.mp4",
           "video/gaomingqi+Track-Anything/test_sample/test-sample4.mp4", "video/dmlc+decord/examples/flipping_a_pancake.mkv"]


def crop(src: str, out: str, aspect: float) -> str:
    """`src` cut to `aspect` (width / height) about its centre, written once to `out`."""
    if not os.path.exists(out):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, "-vf", f"crop='min(iw,ih*{aspect})':ih,setsar=1", "-c:v", "libx264",
                        "-crf", "18", "-an", out], check=True)
    return out


SETS = {
    # (the queries' edits, the negatives' edits)
    "cells": ([["grid3"]] * 16 + [["filmed_screen"]] * 8 + [["mirror", "grid3"]] * 2 + [["speed", "grid3"]] * 2,
              [["grid3"]] * 4 + [["filmed_screen"]] * 4),
    "pip": ([["pip_styled"]] * 16 + [["pip_work_small"]] * 4 + [["web_player"]] * 4 + [["mirror", "pip_styled"]] * 2
            + [["speed", "pip_styled"]] * 2, [["pip_styled"]] * 4 + [["pip_work_small"]] * 2 + [["web_player"]] * 2),
}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--media", default="../shared/media", help="the shared media folder (its video/ and audio/)")
    ap.add_argument("--seed", type=int, default=2601)
    ap.add_argument("--set", default="cells", choices=sorted(SETS), help="which layouts (default: cells)")
    a = ap.parse_args()
    lp = os.path.join(a.media, LIVE_PORTRAIT)
    video = os.path.join(a.media, "video") + "/"
    fillers = [os.path.join(a.media, f) for f in FILLERS]
    music = sorted(os.path.join(r, f) for r, _, fs in os.walk(os.path.join(a.media, "audio")) for f in fs
                   if f.endswith((".ogg", ".mp3", ".wav", ".flac")))  # fmt: skip
    missing = [p for p in [lp, *fillers] if not os.path.exists(p)]
    if missing or not music:
        raise SystemExit(f"error: {missing[0] if missing else 'no music'} not in {a.media}: give the shared media with --media")
    os.makedirs(a.out + "/works", exist_ok=True)
    os.makedirs(a.out + "/queries", exist_ok=True)
    works = [lp + "driving/d13.mp4", lp + "source/s13.mp4", lp + "source/s20.mp4", lp + "source/s29.mp4",
             lp + "driving/d14.mp4", lp + "driving/d6.mp4",
             crop(lp + "source/s18.mp4", a.out + "/works/s18_9x16.mp4", 9 / 16), crop(lp + "source/s32.mp4", a.out + "/works/s32_3x4.mp4", 3 / 4)]
    entries = [{"id": f"pw{i}", "path": p, "title": os.path.basename(p), "category": "short", "duration": duration_of(p), "half": "tune"}
               for i, p in enumerate(works)]
    negs = [lp + "driving/d18.mp4", lp + "driving/d19.mp4", lp + "driving/d20.mp4",
            crop(video + "gaomingqi+Track-Anything/test_sample/test-sample4.mp4", a.out + "/works/ta4_9x16.mp4", 9 / 16)]
    rng = random.Random(a.seed)
    plans, negative_plans = SETS[a.set]
    queries = []
    for n, names in enumerate(plans):
        w = entries[n % len(entries)]
        ctx = Context(other_video=rng.choice(fillers), music=rng.choice(music))
        length = min(rng.uniform(6, 30), w["duration"] - 0.3)
        start = rng.uniform(0, max(w["duration"] - length - 0.2, 0))
        path = f"{a.out}/queries/p{n:03d}.mp4"
        edits = [EDITS[e](rng, ctx) for e in names]
        speed = render(w["path"], start, length, edits, path, probe(w["path"]).has_audio, ctx, reuse=True)
        q = duration_of(path)
        seg = Truth(w["id"], 0.0, min(q, length / speed), start, start + min(length, q * speed))
        queries.append(asdict(QueryEntry(f"p{n:03d}", path, "single", names, [seg], q, "tune")) | {"notes": [e.notes for e in edits]})
        print(f"p{n:03d}", "+".join(names), w["id"], file=sys.stderr)
    for n, names in enumerate(negative_plans):
        src = negs[n % len(negs)]
        ctx = Context(other_video=rng.choice(fillers), music=rng.choice(music))
        d = duration_of(src)
        length = min(rng.uniform(6, 30), d - 0.3)
        start = rng.uniform(0, max(d - length - 0.2, 0))
        path = f"{a.out}/queries/n{n:03d}.mp4"
        edits = [EDITS[e](rng, ctx) for e in names]
        render(src, start, length, edits, path, probe(src).has_audio, ctx, reuse=True)
        queries.append(asdict(QueryEntry(f"n{n:03d}", path, "negative", names, [], duration_of(path), "tune")) | {"notes": [e.notes for e in edits]})
    with open(a.out + "/ground_truth.json", "w", encoding="utf-8") as fh:
        json.dump({"works": entries, "queries": queries}, fh, indent=1)
    print(f"{len(queries)} queries in {a.out}")


if __name__ == "__main__":
    main()
