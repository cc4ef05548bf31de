"""``reeltrace bench``: build (or reuse) the data set, run, print the report."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

from .media import default_media
from .video.dataset import STAMP, VIDEO_SUFFIXES, Plan, build_dataset, build_stamp
from .video.run import markdown, run_bench


def _reusable(out: str, seed: int, plan: Plan) -> bool:
    """Whether ``out`` holds a finished data set of this builder version, seed and plan."""
    path = os.path.join(out, "ground_truth.json")
    if not os.path.exists(path):
        return False
    with open(path, encoding="utf-8") as fh:
        truth = json.load(fh)
    stamp = build_stamp(seed, plan)
    return {key: truth.get(key) for key in stamp} == stamp


def _stamped(out: str) -> dict | None:
    """The stamp of the build started in ``out`` (``dataset.STAMP``), if any."""
    try:
        with open(os.path.join(out, STAMP), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _media_folders(args: argparse.Namespace) -> list[str] | None:
    """The folders ``--media`` names (default: ``default_media``), or None after saying in a
    line why there are none."""
    missing = [m for m in args.media or [] if not os.path.isdir(m)]
    if missing:
        print(f"reeltrace: --media {missing[0]}: no such folder", file=sys.stderr)
        return None
    media = args.media or default_media()
    if not media:
        print(f"reeltrace: no media folder found; {MEDIA_HELP}", file=sys.stderr)
        return None
    return media


def _bench_scale(args: argparse.Namespace) -> int:
    """The quick set (built if missing), then the library grown to each size (``scale``)."""
    from .scale import bench_scale

    if shutil.which("ffmpeg") is None:
        print("reeltrace: bench needs the ffmpeg command (Debian: apt-get install ffmpeg)", file=sys.stderr)
        return 1
    try:
        sizes = tuple(float(h) for h in args.scale.split(","))
    except ValueError:
        print(f"reeltrace: --scale takes hours separated by commas (e.g. 10,100,1000), not {args.scale!r}", file=sys.stderr)
        return 2
    media = _media_folders(args)
    if media is None:
        return 2
    quick = os.path.join(args.out, "quick")
    if not _reusable(quick, args.seed, Plan.quick()):
        print(f"building the quick data set in {quick} ...", file=sys.stderr, flush=True)
        build_dataset(media, quick, seed=args.seed, quick=True)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    reports = bench_scale(quick, media, os.path.join(args.out, "scale"), sizes, args.seed, log)
    from .scale import markdown as scale_markdown

    sys.stdout.write(scale_markdown(reports))
    return 0


MEDIA_HELP = ("bench cuts its queries from real video: give folders of clips with --media DIR (any footage; "
              "the Big Buck Bunny film as bbb.mp4 and music files are used when present; the source tree's "
              "scripts/fetch_demo_media.sh DIR downloads the film and its trailer)")


def bench(args: argparse.Namespace) -> int:
    if getattr(args, "fuzz", None):
        from .fuzz import bench_fuzz

        return bench_fuzz(args.fuzz, args.seed, args.out)
    if getattr(args, "scale", None):
        return _bench_scale(args)
    if getattr(args, "audio", False):
        # The audio fingerprint benchmark (reeltrace/bench/audio/): real music and speech.
        from .audio.cli import bench_audio

        return bench_audio(args)
    if shutil.which("ffmpeg") is None:
        print("reeltrace: bench needs the ffmpeg command (Debian: apt-get install ffmpeg)", file=sys.stderr)
        return 1
    media = _media_folders(args)
    if media is None:
        return 2
    plan = Plan.quick() if args.quick else Plan.full()
    out = os.path.join(args.out, "quick" if args.quick else "full")
    started = time.perf_counter()
    if args.rebuild or not _reusable(out, args.seed, plan):
        # Without a single video the builder has no work to cut queries from; say so
        # rather than fail deep inside it.
        names = (name for folder in media for _, _, files in os.walk(folder) for name in files)
        if not any(os.path.splitext(name)[1].lower() in VIDEO_SUFFIXES for name in names):
            print(f"reeltrace: no video files in {', '.join(media)}; {MEDIA_HELP}", file=sys.stderr)
            return 2
        stamp = build_stamp(args.seed, plan)
        resume = not args.rebuild and _stamped(out) == stamp
        if not resume:
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            with open(os.path.join(out, STAMP), "w", encoding="utf-8") as fh:
                json.dump(stamp, fh)
        verb = "resuming the data set" if resume else "building data set"
        print(f"{verb} in {out} from {', '.join(media)} ...", file=sys.stderr, flush=True)
        build_dataset(media, out, seed=args.seed, quick=args.quick, resume=resume)
    built = time.perf_counter()
    reports = run_bench(out, baseline_names=tuple(args.baseline), model=args.model)
    done = time.perf_counter()
    print(markdown(reports))
    print(f"data set {built - started:.0f} s, run {done - built:.0f} s; details in {out}/results.json")
    return 0
