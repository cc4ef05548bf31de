"""What a chain variant costs a scan, against a first variant, alternated in one process.

    .venv/bin/python scripts/scan_cost.py LIBRARY FILE [FILE ...] --variant "" --variant "layouts.max_parts=0"
    .venv/bin/python scripts/scan_cost.py LIBRARY FILE ... --chain audio --variant "" --variant "match.peak_votes=False"

Each ``--variant`` is a ``;``-separated list of ``NAME=VALUE`` fields of ``VideoConfig``
(or of ``AudioConfig`` with ``--chain audio``; ``reeltrace.settings``, as in
``scripts/scan_variant.py``; empty: the default). Every file is scanned twice by
every variant in turn, from a copy of the library, after one warm-up scan each. Prints the
median seconds per scan, the median and largest ratio to the first variant, and each
file's median ratio: ratios
taken in the same minute hold on a machine that other jobs share, seconds do not.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time

from reeltrace.audio.config import AudioConfig
from reeltrace.library import Library
from reeltrace.settings import with_settings
from reeltrace.video.config import VideoConfig


def config_of(variant: str, chain: str = "video") -> VideoConfig | AudioConfig:
    try:
        base = VideoConfig() if chain == "video" else AudioConfig()
        return with_settings(base, [s.strip() for s in variant.split(";") if s.strip()])
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--chain", choices=["video", "audio"], default="video")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as copy:
        shutil.copytree(args.library, copy, dirs_exist_ok=True)
        libraries = [Library(copy, **{args.chain: config_of(v, args.chain)}) for v in args.variant]
        for lib in libraries:
            lib.index()
            lib.scan(args.files[0])
        seconds: list[list[float]] = [[] for _ in libraries]
        for path in args.files:
            for _ in range(args.repeats):
                for k, lib in enumerate(libraries):
                    started = time.perf_counter()
                    lib.scan(path)
                    seconds[k].append(time.perf_counter() - started)
    for variant, mine in zip(args.variant, seconds, strict=True):
        ratios = [a / b for a, b in zip(mine, seconds[0], strict=True)]
        print(f"{variant or 'default'}: median {statistics.median(mine):.2f} s, ratio median {statistics.median(ratios):.2f}, max {max(ratios):.2f}")
        if variant != args.variant[0]:
            r = args.repeats
            for i, path in enumerate(args.files):
                print(f"  {path}: {statistics.median(ratios[i * r : (i + 1) * r]):.2f}x")


if __name__ == "__main__":
    main()
