"""Scan throughput of the service's job queue (issue 17): one service process against two on
one PostgreSQL database, side by side with today's default (SQLite, one process).

    .venv/bin/python scripts/queue_bench.py OUT [--media ../shared/media] [--jobs 16] [--rounds 2]
        [--database postgresql://...] [--configs sqlite:1x1,postgresql:1x1,postgresql:2x1,postgresql:1x2]

A config is ``BACKEND:PxW``: P service processes (``python -m reeltrace.service``) over one
library folder, W worker threads each; ``postgresql`` processes share one database (a fresh
one per run). Without ``--database`` a throwaway PostgreSQL server is started from Debian's
package (tests/pgserver.py) and removed at the end.

The library (made once in OUT/library with ``reeltrace register``): four real clips of
../shared/media. The queries: 16 real clips of 5-15 s (those four among them), scanned by
server path, so that no upload is timed. Each run:

1. warm-up: one scan per worker, while the hold file (``REELTRACE_SERVICE_HOLD_FILE``, the
   service's testing hook) makes every worker wait with the job it claimed, so each loads
   its model; then released and awaited;
2. the timed part: ``--jobs`` scans submitted (in turns to each process) while held; once
   every worker holds one, the hold is lifted and the clock starts; it stops when the last
   job is done. Throughput = jobs / that time, in jobs per minute.

Configs run in turns within a round (the order reversed every other round), so that a
ratio compares runs made minutes apart on the same machine. Output: a table on standard
output and OUT/queue_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "rt_queue-bench-admin-token-0123456789"
WORKS = [f"video/IDEA-Research+Grounded-SAM-2/demo/data/gallery/{n}.mp4" for n in ("01_dog", "02_cups", "03_blocks", "04_coffee")]
QUERIES = WORKS + [
    "video/DAMO-NLP-SG+VideoLLaMA2/videollama2/serve/examples/sample_demo_1.mp4",
    "video/DAMO-NLP-SG+VideoLLaMA2/videollama2/serve/examples/sample_demo_9.mp4",
    "video/IDEA-Research+Grounded-SAM-2/demo/data/gallery/05_default_juggle.mp4",
    "video/KwaiVGI+LivePortrait/assets/examples/driving/d11.mp4",
    "video/KwaiVGI+LivePortrait/assets/examples/driving/d19.mp4",
    "video/OpenGVLab+Ask-Anything/video_chat/example/yoga.mp4",
    "video/OpenGVLab+Ask-Anything/video_chat_with_ChatGPT/images/playing_guitar.mp4",
    "video/OpenGVLab+Ask-Anything/example/hitting_baseball.mp4",
    "video/OpenShot+libopenshot/examples/run.mp4",
    "video/Zulko+moviepy/media/chaplin.mp4",
    "video/OpenTalker+video-retalking/examples/face/3.mp4",
    "video/STVIR+pysot/demo/bag.avi",
]  # fmt: skip
WARMUP = "video/OpenShot+libopenshot/examples/run.mp4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """One ``python -m reeltrace.service``."""

    def __init__(self, library: str, allowed: str, workers: int, database: str | None, hold: str, log: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "reeltrace.service", "--library", library, "--port", str(self.port),
               "--allow-path", allowed, "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
        if database:
            cmd += ["--database", database]
        env = dict(os.environ, REELTRACE_ADMIN_TOKEN=TOKEN, REELTRACE_SERVICE_HOLD_FILE=hold, PYTHONPATH=ROOT)
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {open(log).read()[-2000:]}")
            try:
                if self.client.get("/api/me").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)

    def scan(self, path: str) -> str:
        r = self.client.post("/api/scans", data={"path": path})
        r.raise_for_status()
        return r.json()["scan"]["id"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
        self.client.close()
        self._log.close()


def statuses(proc: Process, ids: list[str]) -> dict[str, dict]:
    jobs = proc.client.get("/api/jobs").json()["jobs"]
    return {j["id"]: j for j in jobs if j["id"] in ids}


def wait_for(predicate, what: str, timeout: float = 1800.0, every: float = 0.25) -> None:
    """Poll ``predicate`` every ``every`` seconds (4 light requests a second: the poll is not
    what the servers spend their time on)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {what}")
        time.sleep(every)


def held_batch(procs: list[Process], paths: list[str], hold: str, workers: int) -> tuple[float, list[str]]:
    """Submit ``paths`` while held; once ``workers`` hold a job each, release and time until
    every job is done; (seconds, job ids)."""
    open(hold, "w").close()
    ids = [procs[i % len(procs)].scan(p) for i, p in enumerate(paths)]
    # The servers' job lists: one shared list on PostgreSQL, each its own on SQLite (one process).
    running = lambda: sum(1 for j in statuses(procs[0], ids).values() if j["status"] == "running")  # noqa: E731
    wait_for(lambda: running() == min(workers, len(ids)), "every worker to hold a job", every=0.1)
    start = time.monotonic()
    os.unlink(hold)
    wait_for(lambda: all(j["status"] in ("done", "failed") for j in statuses(procs[0], ids).values()), "the batch")
    seconds = time.monotonic() - start
    failed = [j for j in statuses(procs[0], ids).values() if j["status"] != "done" or j["attempts"] != 1]
    if failed:
        raise RuntimeError(f"jobs not done exactly once: {failed}")
    return seconds, ids


def run(config: str, base: str, out: str, media: str, jobs: int, pg) -> dict:
    backend, shape = config.split(":")
    processes, workers = (int(x) for x in shape.split("x"))
    folder = os.path.join(out, "runs", f"{config.replace(':', '-')}-{time.strftime('%H%M%S')}")
    library = os.path.join(folder, "library")
    shutil.copytree(base, library)
    hold = os.path.join(folder, "hold")
    database = pg.new_database("bench") if backend == "postgresql" else None
    allowed = os.path.realpath(os.path.join(media, "video"))
    procs = [Process(library, allowed, workers, database, hold, os.path.join(folder, f"server-{i}.log"))
             for i in range(processes)]  # fmt: skip
    try:
        total = processes * workers
        held_batch(procs, [os.path.join(media, WARMUP)] * total, hold, total)
        paths = [os.path.join(media, QUERIES[i % len(QUERIES)]) for i in range(jobs)]
        load = os.getloadavg()[0]
        seconds, ids = held_batch(procs, paths, hold, total)
        elapsed = [procs[0].client.get(f"/api/scans/{i}").json()["result"]["elapsed"] for i in ids]
        split = None
        if database:
            import psycopg

            with psycopg.connect(database) as conn:
                rows = conn.execute("SELECT claimed_by, COUNT(*) FROM jobs WHERE id = ANY(%s) GROUP BY claimed_by",
                                    (ids,)).fetchall()  # fmt: skip
            split = sorted(n for _, n in rows)
    finally:
        for p in procs:
            p.stop()
    shutil.rmtree(folder, ignore_errors=True)
    return {"config": config, "jobs": jobs, "seconds": round(seconds, 2), "jobs_per_min": round(jobs / seconds * 60, 2),
            "scan_elapsed_mean": round(statistics.mean(elapsed), 3), "split": split, "load_before": round(load, 2)}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--media", default=os.path.join(ROOT, "..", "shared", "media"))
    p.add_argument("--jobs", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--database", help="a PostgreSQL server's URL (a database is created on it per run)")
    p.add_argument("--configs", default="sqlite:1x1,postgresql:1x1,postgresql:2x1,postgresql:1x2")
    args = p.parse_args()
    media = os.path.abspath(args.media)
    missing = [q for q in QUERIES if not os.path.exists(os.path.join(media, q))]
    if missing:
        print(f"queue_bench: missing under {media}: {missing}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, "library")
    if not os.path.exists(os.path.join(base, "library.sqlite")):
        subprocess.run([sys.executable, "-m", "reeltrace", "--library", base, "register",
                        *(os.path.join(media, w) for w in WORKS), "--category", "film"], cwd=ROOT, check=True)  # fmt: skip

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import pgserver

    server = None
    if args.database:
        pg = _Given(args.database)
    else:
        server = pg = pgserver.PostgresServer(pgserver.bin_dir()).start()
    configs = args.configs.split(",")
    results = []
    try:
        for r in range(args.rounds):
            for config in configs if r % 2 == 0 else list(reversed(configs)):
                result = {**run(config, base, args.out, media, args.jobs, pg), "round": r + 1}
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        if server is not None:
            server.stop()

    reference = "postgresql:1x1" if "postgresql:1x1" in configs else configs[0]
    print(f"\n| config | jobs/min, each round | median | vs {reference}, each round | mean scan time (s) | jobs per process |")
    print("|---|---|---|---|---|---|")
    for config in configs:
        mine = [x for x in results if x["config"] == config]
        ratios = [x["jobs_per_min"] / next(y["jobs_per_min"] for y in results if y["config"] == reference and y["round"] == x["round"])
                  for x in mine]  # fmt: skip
        print(f"| {config} | {', '.join(str(x['jobs_per_min']) for x in mine)} | {statistics.median(x['jobs_per_min'] for x in mine):.1f} "
              f"| {', '.join(f'{q:.2f}' for q in ratios)} | {statistics.mean(x['scan_elapsed_mean'] for x in mine):.2f} "
              f"| {mine[-1]['split'] or '-'} |")  # fmt: skip
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "command": " ".join(sys.argv)}  # fmt: skip
    with open(os.path.join(args.out, "queue_bench.json"), "w") as fh:
        json.dump({"meta": meta, "results": results}, fh, indent=1)
    return 0


class _Given:
    """A PostgreSQL server given by URL: a fresh database per run."""

    def __init__(self, url: str):
        self.url = url

    def new_database(self, prefix: str) -> str:
        import secrets

        import psycopg

        name = f"{prefix}_{secrets.token_hex(4)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name


if __name__ == "__main__":
    sys.exit(main())
