"""How often a filmed screen's quadrilateral is found (``reeltrace.video.screens``), per variant.

    .venv/bin/python scripts/screen_study.py STUDY_SET [--half tune] [--variant NAME:FIELD=VALUE,...] ...

Counts, for each variant of ``ScreenParams``, the windows (``ViewParams.window`` sampled
frames; the first two of each query) of the set's filmed-screen queries that get a
quadrilateral, and the windows of one half's single-video footage (the bench's source
clips, ``--media`` as the bench's) that get a false one. ``STUDY_SET`` is a set made by
``scripts/pip_study.py`` (``--set cells`` or ``dark_filmed``); tune on ``--half tune`` only.
A variant with no fields is the default, e.g. ``--variant now: --variant loose:gap=8``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields, replace

import numpy as np

from reeltrace.bench.media import default_media
from reeltrace.bench.video.dataset import discover, half_of
from reeltrace.media.frames import sample_frames
from reeltrace.video.config import VideoConfig
from reeltrace.video.embed import _windows
from reeltrace.video.screens import ScreenParams, detect_screen


def variant(text: str) -> tuple[str, ScreenParams]:
    name, _, assignments = text.partition(":")
    kinds = {f.name: type(getattr(ScreenParams(), f.name)) for f in fields(ScreenParams)}
    changes = {}
    for item in filter(None, assignments.split(",")):
        key, _, value = item.partition("=")
        if key not in kinds:
            raise SystemExit(f"screen_study: no ScreenParams field {key!r}")
        changes[key] = kinds[key](value) if kinds[key] is not bool else value.lower() in ("1", "true")
    return name, replace(ScreenParams(), **changes)


def windows_of(path: str, limit: int | None = None) -> list[np.ndarray]:
    size = VideoConfig().views.window
    out = [np.stack([f.rgb for f in w]) for w in _windows(sample_frames(path, 2.0, 448), size)]
    return [w for w in out[:limit] if len(w) >= 4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study_set")
    parser.add_argument("--half", default="tune", choices=["tune", "report"])
    parser.add_argument("--media", action="append", help="the bench's media folders (default: the bench's)")
    parser.add_argument("--variant", action="append", default=[], help="NAME:FIELD=VALUE,... (repeatable)")
    args = parser.parse_args()
    variants = dict(variant(v) for v in (args.variant or ["default:"]))
    truth = json.load(open(f"{args.study_set}/ground_truth.json"))
    found, total = dict.fromkeys(variants, 0), 0
    for query in truth["queries"]:
        if "filmed_screen" in query["edits"] and query["segments"]:
            windows = windows_of(query["path"], limit=2)
            total += len(windows)
            for name, params in variants.items():
                found[name] += sum(detect_screen(w, params) is not None for w in windows)
    print(f"filmed-screen windows with a quadrilateral, of {total}: {found}", flush=True)
    videos, _, _, _ = discover(args.media or default_media())
    false, plain = dict.fromkeys(variants, 0), 0
    for video in (v for v in videos if half_of(v.family) == args.half):
        try:
            windows = windows_of(video.path)
        except Exception as err:  # a clip the decoder refuses is not this study's concern
            print(f"skipped {video.path}: {err}")
            continue
        plain += len(windows)
        for name, params in variants.items():
            false[name] += sum(detect_screen(w, params) is not None for w in windows)
    print(f"{args.half}-half single-video windows with a quadrilateral, of {plain}: {false}")


if __name__ == "__main__":
    main()
