"""Two registered tracks of one catalogue really mixed (issue 16's other side): does the
explaining-away rule keep both? Renders, per package, pairs of tracks (A plays; B on top at
0 or +6 dB, 5 s and 10 s) and scans them against the library of ``catalogue_study.py``
with the rule on and off.

    python scripts/catalogue_mixes.py STUDY_OUT --media ~/.cache/reeltrace-media [--media ...]

Prints, for each setting, how many (query, track) pairs of the two mixed tracks are claimed,
and how many claims fall on any other track.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from reeltrace.audio.config import AudioConfig
from reeltrace.bench.audio.dataset import Edit, collect, make_query, seeded_fraction
from reeltrace.library import Library


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="the folder of a catalogue_study.py run (its library is used)")
    p.add_argument("--media", action="append", required=True)
    args = p.parse_args(argv)
    items = collect(args.media, 16)
    music = [i for i in items if i.kind == "music" and "/music/" in i.path and i.duration >= 40]
    rng = np.random.default_rng(5)
    out = os.path.join(args.out, "mixes")
    os.makedirs(out, exist_ok=True)
    jobs, truth = [], {}
    for g in sorted({i.group for i in music}):
        tracks = sorted((i for i in music if i.group == g), key=lambda i: seeded_fraction(3, i.path))[:8]
        for n in range(0, len(tracks) - 1, 2):
            a, b = tracks[n], tracks[n + 1]
            for length, db in ((5.0, 6), (10.0, 6), (10.0, 0)):
                sa, sb = float(rng.uniform(1, a.duration - length - 1)), float(rng.uniform(1, b.duration - length - 3))
                path = os.path.join(out, f"{g}_{n:02d}_{int(length)}s_{db}dB.wav")
                truth[path] = {a.path, b.path}
                if not os.path.exists(path):
                    jobs.append((a, sa, length, Edit(f"bed {db}", mix=("overlay", "music", db)), path, 1, (b, sb)))
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        list(pool.map(lambda j: make_query(*j[:6], overlay=j[6]), jobs))
    base = AudioConfig()
    for name, config in (("rule on", base), ("rule off", replace(base, verify=replace(base.verify, explain=False)))):
        with Library(os.path.join(args.out, "library"), audio=config) as lib:
            source = {w.key: w.source_path for w in lib.works()}
            both = one = other = 0
            for path, pair in truth.items():
                claimed = {source[m.work.key] for m in lib.scan(path).matches}
                both += len(claimed & pair)
                one += bool(claimed & pair)
                other += len(claimed - pair)
            print(f"{name}: {both} of {2 * len(truth)} mixed tracks claimed ({one} of {len(truth)} queries with at least one); "
                  f"{other} claims on other tracks")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
