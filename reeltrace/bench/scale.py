"""``reeltrace bench --scale``: the library at 10, 100 and 1,000 hours (issue 14).

The catalogue is the quick set's real works plus *distractor* works, registered the way a
large catalogue would be: through features files (``reeltrace extract`` output), one
``register`` each. Distractor descriptors follow the distribution of real frames, because
uniform random vectors say nothing about an inverted file (they spread evenly over its
lists; real frames crowd a few):

* a shot's anchor mixes 2-3 real frames (Dirichlet weights) of clips that are *not* among
  the quick set's works, plus noise drawn with the real frames' covariance at 1.5x their
  norm: the look-alikes a real catalogue has (same genre, same studio), not copies;
* a shot lasts Geometric(1/12) frames and drifts as a random walk whose step is drawn per
  shot, log-uniform in [0.003, 0.16]: still shots and moving ones, as real footage has.
  Fitted to the pool's own clips: their consecutive frames have cosine 0.82 / 0.95 / 0.998
  at p10 / p50 / p90 and static-shot merging keeps 65% of them; the distractors' are 0.76 /
  0.97 / 0.995 and 64%. (The first version drifted every shot at one speed: median 0.93 but
  p90 0.974, so 92% of its frames were kept, and disk per hour measured footage that
  never holds still.)
* a work lasts 20-120 minutes at 2 frames/s.

At each size the library is measured as a user meets it: bytes on disk per hour; the
search structure's resident memory in a fresh process; index lookup and whole-scan time of
20 real 60 s queries (cut from the film, re-encoded at 640 px), against their decode time
plus the model load, measured in the same process; peak RSS of that scanning process; the
time to register one more real work, side by side with registering it into an empty
library; and the quick set's segment uAP, precision and recall scanned against the whole
catalogue. When the index says it wants a rebuild (``reeltrace index status``), the bench
runs ``reeltrace index rebuild`` first, as the user is told to, and reports its time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from .. import features
from ..audio.config import FINGERPRINT_VERSION, AudioConfig
from ..library import STORE_FILE, Library, extract_features
from ..video.config import VideoConfig
from ..video.embed import DEFAULT_MODEL, FrameEmbedder
from .metrics import Box
from .video.records import SystemRun
from .video.run import evaluate, scan_queries

SIZES = (10.0, 100.0, 1000.0)
QUERY_SECONDS = 60.0
QUERIES = 20
FPS = 2.0


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)).astype(np.float32)


class DistractorMaker:
    """Distractor works from a pool of real frame descriptors (the module docstring)."""

    def __init__(self, pool: np.ndarray, seed: int = 0, noise: float = 1.5, shot_frames: float = 12.0,
                 steps: tuple[float, float] = (0.003, 0.16)):  # fmt: skip
        self.pool = _unit(pool)
        self.rng = np.random.default_rng(seed)
        self.noise = noise
        self.shot_frames = shot_frames
        self.steps = steps
        mean = self.pool.mean(0)
        values, vectors = np.linalg.eigh(np.cov((self.pool - mean).T))
        self.mean = mean
        self.factor = (vectors * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)

    def work(self, frames: int) -> np.ndarray:
        rng = self.rng
        out = np.empty((frames, self.pool.shape[1]), np.float32)
        i = 0
        while i < frames:
            shots = 512
            parents = rng.integers(0, len(self.pool), (shots, 3))
            weights = rng.dirichlet(np.ones(3), shots)
            weights[rng.random(shots) < 0.5, 2] = 0  # half the shots mix two frames, half three
            weights /= weights.sum(1, keepdims=True)
            anchors = _unit(np.einsum("sk,skd->sd", weights, self.pool[parents]))
            gauss = self.mean + rng.standard_normal((shots, self.pool.shape[1])).astype(np.float32) @ self.factor
            anchors = _unit(anchors + self.noise * _unit(gauss))
            lengths = rng.geometric(1 / self.shot_frames, shots)
            steps = np.exp(rng.uniform(*np.log(self.steps), shots)).astype(np.float32)
            for anchor, length, step in zip(anchors, lengths, steps, strict=True):
                length = min(int(length), frames - i)
                if length <= 0:
                    break
                drift = np.cumsum(rng.standard_normal((length, out.shape[1])).astype(np.float32) * step, 0)
                out[i : i + length] = _unit(anchor + drift)
                i += length
        return out


def unused_clips(media: list[str], seed: int) -> list[str]:
    """Clips of the families the quick set's builder leaves unused (``dataset.choose_families``
    with the builder's ``random.Random(seed)``)."""
    import random

    from .video.dataset import Plan, choose_families, discover

    videos = discover(media)[0]
    works, distractors = choose_families(sorted({v.family for v in videos}), Plan.quick(), random.Random(seed))
    used = set(works) | set(distractors)
    return [v.path for v in videos if v.family not in used]


def _cut_queries(film: str, folder: str, count: int, seed: int) -> list[str]:
    """``count`` real 60 s queries from the film at random offsets, re-encoded at 640 px."""
    from .video.dataset import duration_of, ffmpeg

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    length = duration_of(film)
    out = []
    for i in range(count):
        path = os.path.join(folder, f"q60-{i:02d}.mp4")
        if not os.path.exists(path):
            start = float(rng.uniform(0, max(length - QUERY_SECONDS - 1, 1)))
            ffmpeg(["-ss", f"{start:.2f}", "-t", f"{QUERY_SECONDS}", "-i", film, "-vf", "scale=640:-2",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-c:a", "aac", "-b:a", "96k", path])  # fmt: skip
        out.append(path)
    return out


_PROBE = r"""
import json, os, resource, statistics, sys, time
import av
def rss():
    out = {}
    for line in open('/proc/self/status'):
        if line.startswith(('VmRSS', 'RssAnon', 'RssFile')):
            k, v = line.split(':'); out[k] = int(v.split()[0]) / 1024
    return out
started = time.perf_counter()
from reeltrace.library import Library
from reeltrace.video.embed import describe_video
lib = Library(sys.argv[1])
lib.embedder
lib.background()
model_load = time.perf_counter() - started
before = rss()
t = time.perf_counter(); index = lib.index(); open_s = time.perf_counter() - t
opened = rss()
decode, lookup, scan = [], [], []
for path in sys.argv[2:]:
    t = time.perf_counter()
    with av.open(path) as c:
        s = c.streams.video[0]; s.thread_type = 'AUTO'
        for _ in c.decode(s): pass
    decode.append(time.perf_counter() - t)
    f = describe_video(path, lib.embedder, lib.video, 60.0, query=True)
    t = time.perf_counter(); index.search(f.embeddings, lib.video.retrieval.k); lookup.append(time.perf_counter() - t)
    t = time.perf_counter(); r = lib.scan(path); scan.append(time.perf_counter() - t)
    assert r.error is None, r.error
after = rss()
print(json.dumps({"model_load_s": model_load, "index_open_s": open_s, "decode_s": decode, "lookup_s": lookup,
    "scan_s": scan, "index_anon_mb": opened['RssAnon'] - before['RssAnon'], "index_file_mb": opened['RssFile'] - before['RssFile'],
    "after_scans_anon_mb": after['RssAnon'] - before['RssAnon'], "after_scans_file_mb": after['RssFile'] - before['RssFile'],
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _cli(*argv: str) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "reeltrace", *argv], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"reeltrace {' '.join(argv)}: {proc.stderr.strip()[-300:]}")
    return time.perf_counter() - started


def _folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def _median_p95(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "p95": ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]}


def bench_scale(quick_dir: str, media: list[str], out: str, sizes: tuple[float, ...] = SIZES, seed: int = 0,
                log=print) -> list[dict]:  # fmt: skip
    """Grow one library through ``sizes`` (hours) and measure it at each (module docstring)."""
    with open(os.path.join(quick_dir, "ground_truth.json"), encoding="utf-8") as fh:
        truth = json.load(fh)
    os.makedirs(out, exist_ok=True)
    library = os.path.join(out, "library")
    shutil.rmtree(library, ignore_errors=True)
    embedder = FrameEmbedder(DEFAULT_MODEL)
    video, audio = VideoConfig(), AudioConfig()
    film = next(w["path"] for w in truth["works"] if w["id"] == "film")

    # The distractors' pool: frames of real clips of families the quick set does not use
    # (neither its works nor its negatives), so that a distractor is a look-alike of real
    # footage in general, not a planted neighbour of a query.
    pool_file = os.path.join(out, "pool.npy")
    if os.path.exists(pool_file):
        pool = np.load(pool_file)
    else:
        parts = []
        for path in unused_clips(media, seed):
            try:
                got = extract_features(path, embedder, video, audio)
            except Exception:  # noqa: BLE001 - a clip the pool cannot use is skipped
                continue
            if len(got.descriptors):
                parts.append(got.descriptors)
        if not parts:
            raise RuntimeError("no clips outside the quick set's families to draw distractors from")
        pool = np.concatenate(parts)
        np.save(pool_file, pool)
    log(f"distractor pool: {len(pool)} real frames of clips outside the quick set")
    extra = os.path.join(out, "one-more-work.mp4")
    if not os.path.exists(extra):
        from .video.dataset import ffmpeg

        ffmpeg(["-ss", "30", "-t", "60", "-i", film, "-vf", "scale=854:-2,hflip,eq=brightness=0.05", "-c:v", "libx264",
                "-preset", "veryfast", "-crf", "24", "-c:a", "aac", extra])  # fmt: skip
    queries = _cut_queries(film, os.path.join(out, "queries60"), QUERIES, seed)

    maker = DistractorMaker(pool, seed)
    rng = np.random.default_rng(seed + 1)
    reports = []
    ids: dict[str, str] = {}
    with Library(library) as lib:
        real_seconds = 0.0
        for work in truth["works"]:
            result = lib.register(work["path"], title=work["title"], category=work["category"], work_id=work["id"])
            if result.error:
                raise RuntimeError(f"{work['path']}: {result.error}")
            ids[result.work.work_id] = work["id"]
            real_seconds += result.work.duration
        hours = real_seconds / 3600
        distractor = 0
        tmp = tempfile.mkdtemp(dir=out)
        for size in sizes:
            started = time.perf_counter()
            frames_added = 0
            while hours < size:
                minutes = float(rng.uniform(20, 120))
                frames = int(minutes * 60 * FPS)
                vectors = maker.work(frames)
                meta = {"model": lib.model, "dim": vectors.shape[1], "sample_fps": FPS, "duration": frames / FPS,
                        "content_hash": hashlib.sha256(f"distractor {seed} {distractor}".encode()).hexdigest(),
                        "fingerprint_version": FINGERPRINT_VERSION, "title": f"distractor {distractor:05d}",
                        "source_path": ""}  # fmt: skip
                path = os.path.join(tmp, f"d{distractor:05d}.npz")
                features.write(path, features.FeaturesFile(np.arange(frames, dtype=np.float32) / FPS, vectors, None, meta))
                result = lib.register(path, category="drama")
                os.unlink(path)
                if result.error:
                    raise RuntimeError(f"distractor {distractor}: {result.error}")
                distractor += 1
                hours += frames / FPS / 3600
                frames_added += frames
            grow_s = time.perf_counter() - started
            rebuild_s = None
            if lib.index_advice():
                t = time.perf_counter()
                lib.rebuild_index()
                rebuild_s = time.perf_counter() - t
            status = lib.index_status()
            log(f"{hours:.0f} h: {status['works']} works, {status['vectors']:,} vectors, grown in {grow_s:.0f} s"
                + (f", rebuilt in {rebuild_s:.0f} s" if rebuild_s else ""))
            lib.close()
            probe = subprocess.run([sys.executable, "-c", _PROBE, library, *queries], capture_output=True, text=True,
                                   check=False)  # fmt: skip
            if probe.returncode != 0:
                raise RuntimeError(f"scan probe failed: {probe.stderr.strip()[-500:]}")
            measured = json.loads(probe.stdout.strip().splitlines()[-1])
            empty = os.path.join(tmp, "empty")
            into_empty, into_full = [], []
            for _ in range(2):  # alternating, side by side
                shutil.rmtree(empty, ignore_errors=True)
                into_empty.append(_cli("--library", empty, "register", extra, "--id", "one-more"))
                into_full.append(_cli("--library", library, "register", extra, "--id", "one-more"))
                _cli("--library", library, "remove", "one-more")
            lib = Library(library)
            run = SystemRun("reeltrace")
            scan_queries(truth, lib, ids, run)
            quality = evaluate(truth, run, 0.5)
            disk = {name: _folder_bytes(os.path.join(library, name)) for name in ("vectors", "index")}
            disk["database"] = sum(os.path.getsize(os.path.join(library, f)) for f in os.listdir(library)
                                   if f.startswith(STORE_FILE))  # fmt: skip
            decode = [d + measured["model_load_s"] for d in measured["decode_s"]]
            report = {
                "hours": hours,
                "works": status["works"],
                "frames": status["frames"],
                "vectors": status["vectors"],
                "segments": status["segments"],
                "grow_s": grow_s,
                "rebuild_s": rebuild_s,
                "disk_bytes": disk,
                "disk_mb_per_hour": sum(disk.values()) / 1e6 / hours,
                "index_anon_mb": measured["index_anon_mb"],
                "index_file_mb": measured["index_file_mb"],
                "after_scans_anon_mb": measured["after_scans_anon_mb"],
                "index_open_s": measured["index_open_s"],
                "lookup_s": _median_p95(measured["lookup_s"]),
                "scan_s": _median_p95(measured["scan_s"]),
                "decode_plus_model_s": _median_p95(decode),
                "scan_over_decode_plus_model": statistics.median(
                    s / d for s, d in zip(measured["scan_s"], decode, strict=True)),
                "model_load_s": measured["model_load_s"],
                "scan_peak_rss_mb": measured["peak_rss_mb"],
                "register_one_more_s": {"empty": into_empty, "full": into_full,
                                        "ratio": statistics.median(into_full) / statistics.median(into_empty)},
                "quick_set": {k: quality[k] for k in ("segment_uap", "segment_precision", "segment_recall",
                                                      "video_ap", "false_works_on_negatives", "negatives")},
            }  # fmt: skip
            reports.append(report)
            with open(os.path.join(out, "scale-results.json"), "w", encoding="utf-8") as fh:
                json.dump(reports, fh, indent=1)
            log(markdown(reports))
        shutil.rmtree(tmp, ignore_errors=True)
    return reports


def markdown(reports: list[dict]) -> str:
    rows = ["| catalogue | vectors | disk MB/h | index resident MB (anon + file) | lookup 60 s, median / p95 | scan 60 s, median / p95 | scan / (decode + model) | scan peak RSS MB | register one more (x empty) | quick uAP / P / R | FW |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in reports:
        q = r["quick_set"]
        rows.append(
            f"| {r['hours']:.0f} h | {r['vectors']:,} | {r['disk_mb_per_hour']:.2f} | "
            f"{r['index_anon_mb']:.0f} + {r['index_file_mb']:.0f} | {r['lookup_s']['median']:.3f} / {r['lookup_s']['p95']:.3f} s | "
            f"{r['scan_s']['median']:.2f} / {r['scan_s']['p95']:.2f} s | {r['scan_over_decode_plus_model']:.2f} | "
            f"{r['scan_peak_rss_mb']:.0f} | {r['register_one_more_s']['ratio']:.2f} | "
            f"{q['segment_uap']:.3f} / {q['segment_precision']:.3f} / {q['segment_recall']:.3f} | "
            f"{q['false_works_on_negatives']} / {q['negatives']} |"
        )
    return "\n".join(rows) + "\n"


__all__ = ["SIZES", "Box", "DistractorMaker", "bench_scale", "markdown"]
