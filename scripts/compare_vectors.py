"""The same works and queries on FAISS and on Milvus Lite (issue 17): are the answers identical,
and what does a lookup cost on each?

    .venv/bin/python scripts/compare_vectors.py --out /tmp/vcmp [--media DIR ...] [--queries 20]

1. Every video of the media folders (default ../shared/media/video and the demo film's folder)
   longer than 4 s is a work, except every 8th, held out for negative queries; their features
   are extracted once (``reeltrace extract``) and registered from the same .npz files in two
   libraries: ``faiss`` (the default) and ``milvus`` (``init --vectors milvus-lite``).
2. Queries are cut with FFmpeg from works (6-10 s, picture only): plain, re-encoded at 360p
   300 kbit/s, cropped to 80%, mirrored, letterboxed, greyscale, 1.25x speed; and the first
   8 s of held-out videos (negatives); plus the demo trailer when it is there.
3. Each query is scanned in both libraries (``Library.scan``); the public JSON of each
   result is compared. The lookup alone (``index().search`` of the query's descriptors, k 64)
   is timed 5 times on each, alternately; the median is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reeltrace.cli import main as cli  # noqa: E402
from reeltrace.library import Library  # noqa: E402
from reeltrace.media import MEDIA_SUFFIXES, expand_paths  # noqa: E402
from reeltrace.media.container import probe  # noqa: E402
from reeltrace.report.formats import result_public  # noqa: E402

EDITS = {
    "plain": [],
    "reencode": ["-vf", "scale=-2:360", "-b:v", "300k"],
    "crop80": ["-vf", "crop=trunc(iw*0.4)*2:trunc(ih*0.4)*2"],
    "mirror": ["-vf", "hflip"],
    "letterbox": ["-vf", "pad=iw:trunc(ih*0.7)*2:0:(oh-ih)/2:black"],
    "grey": ["-vf", "hue=s=0"],
    "speed125": ["-vf", "setpts=PTS/1.25"],
}


def _videos(folders: list[str]) -> list[tuple[str, float]]:
    found = []
    for path in sorted(expand_paths(folders, MEDIA_SUFFIXES)):
        try:
            info = probe(path)
        except Exception:
            continue
        if info.has_video and info.duration > 4.0 and "trailer" not in os.path.basename(path):
            found.append((path, info.duration))
    return found


def _cut(src: str, start: float, length: float, edit: str, dst: str) -> None:
    if os.path.exists(dst):
        return
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{start:.2f}", "-t", f"{length:.2f}", "-i", src, "-an",
                    *EDITS[edit], "-c:v", "libx264", "-pix_fmt", "yuv420p", dst], check=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--media", action="append")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    media = args.media or [os.path.join(here, "..", "shared", "media", "video"),
                           os.path.expanduser("~/.cache/reeltrace-media/film")]  # fmt: skip
    media = [m for m in media if os.path.isdir(m)]
    os.makedirs(args.out, exist_ok=True)
    videos = _videos(media)
    works = [v for i, v in enumerate(videos) if i % 8 != 7]
    held = [v for i, v in enumerate(videos) if i % 8 == 7]
    print(f"{len(works)} works ({sum(d for _, d in works) / 60:.1f} min), {len(held)} held out", flush=True)

    features = os.path.join(args.out, "features")
    if not os.path.isdir(features):
        began = time.perf_counter()
        assert cli(["-q", "extract", *[p for p, _ in works], "--output", features + ".tmp"]) == 0
        os.rename(features + ".tmp", features)
        print(f"extracted in {time.perf_counter() - began:.0f} s", flush=True)
    libraries = {"faiss": os.path.join(args.out, "faiss"), "milvus": os.path.join(args.out, "milvus")}
    for name, folder in libraries.items():
        if not Library.exists(folder):
            if name == "milvus":
                assert cli(["--library", folder, "init", "--vectors", "milvus-lite"]) == 0
            began = time.perf_counter()
            assert cli(["-q", "--library", folder, "register", features]) == 0
            print(f"{name}: registered in {time.perf_counter() - began:.1f} s", flush=True)

    rng = np.random.default_rng(args.seed)
    queries = []
    qdir = os.path.join(args.out, "queries")
    os.makedirs(qdir, exist_ok=True)
    long_works = [w for w in works if w[1] >= 9.0]
    picks = rng.choice(len(long_works), size=min(len(long_works), args.queries - min(3, len(held)) - 1), replace=False)
    for i, pick in enumerate(sorted(picks)):
        path, duration = long_works[pick]
        edit = list(EDITS)[i % len(EDITS)]
        length = float(min(duration - 1.0, rng.uniform(6.0, 10.0)))
        start = float(rng.uniform(0.0, max(0.0, duration - length - 0.5)))
        dst = os.path.join(qdir, f"q{i:02d}-{edit}.mp4")
        _cut(path, start, length, edit, dst)
        queries.append((dst, f"{os.path.relpath(path, here)} {start:.1f}+{length:.1f} s {edit}"))
    for i, (path, _) in enumerate(held[:3]):
        dst = os.path.join(qdir, f"n{i:02d}.mp4")
        _cut(path, 0.0, 8.0, "plain", dst)
        queries.append((dst, f"negative: {os.path.relpath(path, here)} first 8 s"))
    trailer = os.path.expanduser("~/.cache/reeltrace-media/film/trailer_bbb.mp4")
    if os.path.exists(trailer):
        queries.append((trailer, "the demo trailer (55 s, six pieces of the film)"))

    opened = {name: Library(folder) for name, folder in libraries.items()}
    try:
        for lib in opened.values():
            lib.index()
            lib.background()
        rows = []
        for path, what in queries:
            answers, scan_s = {}, {}
            for name, lib in opened.items():
                began = time.perf_counter()
                result = lib.scan(path)
                scan_s[name] = time.perf_counter() - began
                answers[name] = result_public(result)
            faiss_lib = opened["faiss"]
            picture = faiss_lib._describe_query(path, probe(path).duration)
            lookups = {name: [] for name in opened}
            for _ in range(5):
                for name, lib in opened.items():
                    began = time.perf_counter()
                    lib.index().search(picture.embeddings, 64)
                    lookups[name].append(time.perf_counter() - began)
            same = answers["faiss"] == answers["milvus"]
            rows.append({"query": os.path.basename(path), "what": what, "same": same,
                         "matches": [(m["work_id"], len(m["segments"])) for m in answers["faiss"]["matches"]],
                         "descriptors": len(picture.embeddings),
                         "lookup_s": {n: statistics.median(v) for n, v in lookups.items()},
                         "scan_s": scan_s,
                         **({} if same else {"answers": answers})})  # fmt: skip
            r = rows[-1]
            print(f"{r['query']:<18} same={same!s:<5} {len(r['matches'])} work(s) {r['descriptors']:>4} descr  lookup "
                  f"faiss {r['lookup_s']['faiss'] * 1000:7.1f} ms  milvus {r['lookup_s']['milvus'] * 1000:7.1f} ms"
                  f"  | {what}", flush=True)  # fmt: skip
        status = {name: lib.index_status() for name, lib in opened.items()}
    finally:
        for lib in opened.values():
            lib.close()
    faiss_ms = [r["lookup_s"]["faiss"] for r in rows]
    milvus_ms = [r["lookup_s"]["milvus"] for r in rows]
    summary = {
        "queries": len(rows),
        "identical": sum(r["same"] for r in rows),
        "works": status["faiss"]["works"],
        "vectors": status["faiss"]["vectors"],
        "lookup_median_ms": {"faiss": statistics.median(faiss_ms) * 1000, "milvus": statistics.median(milvus_ms) * 1000},
        "lookup_ratio_median": statistics.median(m / f for m, f in zip(milvus_ms, faiss_ms, strict=True)),
        "scan_total_s": {n: sum(r["scan_s"][n] for r in rows) for n in opened},
    }
    with open(os.path.join(args.out, "comparison.json"), "w", encoding="utf-8") as fh:
        json.dump({"summary": summary, "rows": rows, "status": status}, fh, indent=2)
    print(json.dumps(summary, indent=2))
    return 0 if summary["identical"] == summary["queries"] else 1


if __name__ == "__main__":
    sys.exit(main())
