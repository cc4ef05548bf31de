"""The upload-time check's latency (issue 19): ``POST /api/check`` of 60 s uploads against a
real server process over a copy of a library of real works, as a platform calls it.

    .venv/bin/python scripts/check_bench.py OUT --library /work/lb30/library \\
        --media ../shared/media --media ~/.cache/reeltrace-media

Uploads (made once with FFmpeg in OUT/uploads, re-encoded at 640 px as platforms do):
60 s cuts of Big Buck Bunny (registered in the library: each becomes a claim under a
``block`` policy of at least 10 s) and 60 s of six unregistered clips joined (allowed). The first check
loads the model and is reported apart (a server answers it once per check thread). Each
check's latency is the client's: the multipart upload over loopback, the scan, the policy,
the claim written; beside it the scan's own time inside the server (``elapsed`` of the
stored scan), so that the share the check adds to a scan is a ratio measured in the same
request.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "rt_check-bench-admin-token-0123456789"
POSITIVE_STARTS = (30, 100, 170, 240, 310, 380, 450, 520)  # seconds into Big Buck Bunny
NEGATIVE_CLIPS = [f"video/IDEA-Research+Grounded-SAM-2/demo/data/gallery/{name}.mp4"
                  for name in ("01_dog", "02_cups", "03_blocks", "04_coffee", "05_default_juggle")]
NEGATIVE_CLIPS.append("video/DAMO-NLP-SG+VideoLLaMA2/videollama2/serve/examples/1034346401.mp4")
"""Unregistered clips (about 64 s together), joined in turns into 60 s negative uploads."""
NEGATIVES = 4


def find(media: list[str], relative: str) -> str | None:
    for folder in media:
        path = os.path.join(os.path.expanduser(folder), relative)
        if os.path.exists(path):
            return path
    return None


def cut(source: str, start: float, out: str) -> str:
    if not os.path.exists(out):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-ss", str(start), "-t", "60", "-i", source, "-vf",
                        "scale=640:-2", "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-c:a", "aac",
                        "-b:a", "96k", out + ".partial.mp4"], check=True)  # fmt: skip
        os.replace(out + ".partial.mp4", out)
    return out


def join(sources: list[str], out: str) -> str:
    """The clips one after another at 640x360, 25 fps, cut at 60 s."""
    if not os.path.exists(out):
        inputs = [x for path in sources for x in ("-i", path)]
        fit = "".join(f"[{i}:v]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:-1:-1,fps=25,setsar=1[v{i}];"
                      for i in range(len(sources)))  # fmt: skip
        chain = fit + "".join(f"[v{i}]" for i in range(len(sources))) + f"concat=n={len(sources)}:v=1:a=0[v]"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *inputs, "-filter_complex", chain, "-map", "[v]", "-t", "60",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", out + ".partial.mp4"], check=True)  # fmt: skip
        os.replace(out + ".partial.mp4", out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stats(values: list[float]) -> dict:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(values), "median": round(statistics.median(values), 3), "p95": round(p95, 3), "max": round(ordered[-1], 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--library", required=True, help="a library of real works holding Big Buck Bunny (the live benchmark's)")
    p.add_argument("--media", action="append", default=[], help="media folders (../shared/media, ~/.cache/reeltrace-media)")
    p.add_argument("--rounds", type=int, default=2, help="times each upload is checked (each time under a new upload id)")
    args = p.parse_args()
    film = find(args.media, "film/bbb.mp4")
    clips = [find(args.media, c) for c in NEGATIVE_CLIPS]
    if film is None or None in clips:
        print("check_bench: needs film/bbb.mp4 (../shared/media/fetch.sh) and the clips of NEGATIVE_CLIPS in a "
              "--media folder", file=sys.stderr)  # fmt: skip
        return 2
    uploads_dir = os.path.join(args.out, "uploads")
    os.makedirs(uploads_dir, exist_ok=True)
    uploads = [(cut(film, s, os.path.join(uploads_dir, f"bbb-{s}.mp4")), True) for s in POSITIVE_STARTS]
    uploads += [(join(clips[i:] + clips[:i], os.path.join(uploads_dir, f"other-{i}.mp4")), False) for i in range(NEGATIVES)]

    library = os.path.join(args.out, "library")
    shutil.rmtree(library, ignore_errors=True)
    shutil.copytree(args.library, library)
    port = free_port()
    log = open(os.path.join(args.out, "server.log"), "wb")
    server = subprocess.Popen([sys.executable, "-m", "reeltrace.service", "--library", library, "--port", str(port),
                               "--log-level", "warning", "--workers", "0"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env=dict(os.environ, REELTRACE_ADMIN_TOKEN=TOKEN, PYTHONPATH=ROOT))  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)
        for _ in range(600):
            try:
                if admin.get("/api/me").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        scanner_token = admin.post("/api/accounts", json={"name": "platform", "role": "scanner"}).json()["token"]
        scanner = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {scanner_token}"}, timeout=600)
        bbb = next(w for w in admin.get("/api/works").json()["works"] if w["title"] == "Big Buck Bunny")
        r = admin.put(f"/api/works/{bbb['work_id']}/policy", json={"action": "block", "min_seconds": 10})
        r.raise_for_status()

        def check(path: str, upload_id: str) -> tuple[float, dict]:
            started = time.perf_counter()
            with open(path, "rb") as fh:
                r = scanner.post("/api/check", files={"file": (os.path.basename(path), fh, "video/mp4")},
                                 data={"metadata": json.dumps({"platform": "bench", "upload_id": upload_id, "views": 1})})  # fmt: skip
            took = time.perf_counter() - started
            r.raise_for_status()
            return took, r.json()

        cold, _ = check(uploads[-1][0], "warm-up")
        rows = []
        for round_ in range(args.rounds):
            for path, positive in uploads:
                took, answer = check(path, f"{round_}-{os.path.basename(path)}")
                scan = scanner.get(f"/api/scans/{answer['scan_id']}").json()
                rows.append({"upload": os.path.basename(path), "positive": positive, "latency": took,
                             "scan": scan["result"]["elapsed"], "decision": answer["decision"]})  # fmt: skip
                print(f"{rows[-1]['upload']:>16}  {answer['decision']:>6}  check {took:6.2f} s  scan {rows[-1]['scan']:6.2f} s",
                      flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(60)
        log.close()
    right = sum((r["decision"] == "block") == r["positive"] for r in rows)
    report = {
        "uploads": len(uploads), "checks": len(rows), "first_check_cold_s": round(cold, 3),
        "latency": stats([r["latency"] for r in rows]), "scan": stats([r["scan"] for r in rows]),
        "latency_over_scan": stats([r["latency"] / r["scan"] for r in rows]),
        "positives": stats([r["latency"] for r in rows if r["positive"]]),
        "negatives": stats([r["latency"] for r in rows if not r["positive"]]),
        "decisions_right": f"{right}/{len(rows)}", "cores": os.cpu_count(),
    }  # fmt: skip
    with open(os.path.join(args.out, "report.json"), "w") as fh:
        json.dump({**report, "rows": rows}, fh, indent=1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
