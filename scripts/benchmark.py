"""Speed, memory and size benchmark for BENCHMARKS.md.

    .venv/bin/python scripts/benchmark.py [--film ~/.cache/reeltrace-media/film]

Measures, on whatever machine runs it (the figures in BENCHMARKS.md: 2 cores):
  * decode floor: PyAV decoding every frame of the film, nothing else (frame threads), and
    the same with the decoder skipping unreferenced frames, as register decodes it;
  * register: the film into a fresh library, model already loaded (x realtime, and as a
    multiple of the decode floor);
  * scan: a 60 s excerpt of the film re-encoded at 480p, and the 55 s trailer, model and
    index loaded (median of 3);
  * peak resident memory of a whole `reeltrace register` and `reeltrace scan` process;
  * library bytes per hour of registered video (SQLite + FAISS cache).
Each step runs in its own process so memory and timing do not leak between them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile


def child(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def decode_floor(film: str, skip: str = "DEFAULT") -> dict:
    return child(f"""
import av, json, time
c = av.open({film!r}); s = c.streams.video[0]; s.thread_type = "AUTO"; s.codec_context.skip_frame = {skip!r}
t = time.perf_counter(); n = sum(1 for _ in c.decode(s)); el = time.perf_counter() - t
print(json.dumps({{"frames": n, "seconds": el}}))
""")


def register(film: str, lib: str) -> dict:
    return child(f"""
import json, time
from reeltrace import Library
with Library({lib!r}) as lib:
    lib.embedder  # model load is not part of the per-file cost
    t = time.perf_counter(); r = lib.register({film!r}, title="film"); el = time.perf_counter() - t
print(json.dumps({{"seconds": el, "duration": r.work.duration, "frames": r.work.frames}}))
""")


def scan(query: str, lib: str) -> dict:
    return child(f"""
import json, time, statistics
from reeltrace import Library
lib = Library({lib!r}); lib.embedder; lib.index()
times = []
for _ in range(3):
    t = time.perf_counter(); r = lib.scan({query!r}); times.append(time.perf_counter() - t)
print(json.dumps({{"seconds": statistics.median(times), "duration": r.duration,
                   "segments": sum(len(m.segments) for m in r.matches)}}))
""")


def peak_rss(args: list[str]) -> float:
    """Peak resident MiB of one whole CLI run, measured inside that process."""
    return child(f"""
import json, resource, runpy, sys
sys.argv = ["reeltrace", *{args!r}]
try:
    runpy.run_module("reeltrace", run_name="__main__")
except SystemExit:
    pass
sys.stdout.flush()
print(json.dumps({{"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
""")["rss"]


def make_excerpt(film: str, out: str, start: float, length: float) -> None:
    child(f"""
import av, json
src = av.open({film!r}); vs = src.streams.video[0]; vs.thread_type = "AUTO"
dst = av.open({out!r}, "w"); o = dst.add_stream("libx264", rate=24); o.width, o.height = 854, 480
o.pix_fmt = "yuv420p"; o.options = {{"crf": "28", "preset": "veryfast"}}
from fractions import Fraction
src.seek(int({start} / vs.time_base), stream=vs)
i = 0
for f in src.decode(vs):
    t = float(f.pts * vs.time_base)
    if t < {start}: continue
    if t >= {start + length}: break
    g = f.reformat(width=854, height=480, format="yuv420p"); g.pts = i; g.time_base = Fraction(1, 24); i += 1
    for p in o.encode(g): dst.mux(p)
for p in o.encode(): dst.mux(p)
dst.close(); print(json.dumps({{}}))
""")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--film", default=os.path.expanduser("~/.cache/reeltrace-media/film"))
    args = parser.parse_args()
    film = os.path.join(args.film, "bbb.mp4")
    trailer = os.path.join(args.film, "trailer_bbb.mp4")
    work = tempfile.mkdtemp(prefix="reeltrace-bench-")
    try:
        excerpt = os.path.join(work, "excerpt60.mp4")
        make_excerpt(film, excerpt, 300.0, 60.0)
        floor = decode_floor(film)
        floor_ref = decode_floor(film, "NONREF")
        lib = os.path.join(work, "lib")
        reg = register(film, lib)
        scan60 = scan(excerpt, lib)
        scan_trailer = scan(trailer, lib)
        rss_lib = os.path.join(work, "lib-rss")
        rss_register = peak_rss(["--library", rss_lib, "register", film])
        rss_scan = peak_rss(["--library", rss_lib, "scan", trailer])
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(lib) for f in fs)
        index_dir = os.path.join(lib, "index")
        vectors_dir = os.path.join(lib, "vectors")
        faiss_size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(vectors_dir) for f in fs)
        fixed = sum(os.path.getsize(os.path.join(index_dir, f)) for f in os.listdir(index_dir) if f.startswith("background-"))
        size -= fixed  # the generated background set is per library, not per hour
        hours = reg["duration"] / 3600
        rows = [
            ("machine", f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"),
            ("decode floor (all frames, PyAV)", f"{floor['seconds']:.1f} s = {reg['duration'] / floor['seconds']:.1f}x realtime"),
            ("decode floor, referenced frames only (as register decodes)",
             f"{floor_ref['seconds']:.1f} s ({floor_ref['frames']} frames)"),
            ("register film (596 s, 720p)", f"{reg['seconds']:.1f} s = {reg['duration'] / reg['seconds']:.1f}x realtime"
             f" = {reg['seconds'] / floor['seconds']:.2f}x the decode floor, {reg['seconds'] / floor_ref['seconds']:.2f}x"
             f" the referenced-frames floor ({reg['frames']} frames indexed)"),
            ("scan 60 s excerpt (480p re-encode)", f"{scan60['seconds']:.2f} s ({scan60['segments']} segment)"),
            ("scan 55 s trailer", f"{scan_trailer['seconds']:.2f} s ({scan_trailer['segments']} segments)"),
            ("peak memory, register process", f"{rss_register:.0f} MiB"),
            ("peak memory, scan process", f"{rss_scan:.0f} MiB"),
            ("library bytes per hour of video", f"{size / hours / 1e6:.1f} MB (of which descriptor files {faiss_size / hours / 1e6:.1f} MB;"
             f" plus {fixed / 1e6:.1f} MB per library for the background set)"),
        ]
        print("| measure | result |\n|---|---|")
        for k, v in rows:
            print(f"| {k} | {v} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
