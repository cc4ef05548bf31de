"""The vector index of a large library, on hand-made descriptors registered through
features files: exact while small, folded into on-disk segments as it grows, rebuilt (and
resumed after a kill) by ``reeltrace index rebuild``; a schema-2 library moves its
descriptors to files when opened. The descriptors imitate SSCD's: unit 512-d vectors,
shots of near-identical frames, works unrelated to each other."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import run_cli, subprocess_env

from reeltrace import features, holds
from reeltrace.audio.config import FINGERPRINT_VERSION
from reeltrace.library import Library
from reeltrace.video import codes
from reeltrace.video.index import IndexParams

DIM = 512
FRAMES = 300  # per work: 150 s at 2 frames/s


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _work_vectors(seed: int) -> np.ndarray:
    """Shots of 1-12 frames: a random anchor each, every frame a small step from it
    (consecutive cosine ~0.97, as in real static shots: about half of them merge)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < FRAMES:
        anchor = _unit(rng.normal(size=DIM))
        for _ in range(int(rng.integers(1, 13))):
            out.append(_unit(anchor + 0.18 * _unit(rng.normal(size=DIM))))
    return np.array(out[:FRAMES])


def _write_work(folder: str, seed: int) -> str:
    vectors = _work_vectors(seed)
    times = np.arange(FRAMES, dtype=np.float32) * 0.5
    meta = {"model": "sscd_distilled", "dim": DIM, "sample_fps": 2.0, "duration": FRAMES * 0.5,
            "content_hash": hashlib.sha256(f"work {seed}".encode()).hexdigest(),
            "fingerprint_version": FINGERPRINT_VERSION, "title": f"work{seed:03d}.mp4", "source_path": ""}  # fmt: skip
    path = os.path.join(folder, f"work{seed:03d}.npz")
    features.write(path, features.FeaturesFile(times, vectors, None, meta))
    return path


@pytest.fixture(scope="module")
def work_npz(tmp_path_factory) -> list[str]:
    folder = str(tmp_path_factory.mktemp("npz"))
    return [_write_work(folder, seed) for seed in range(40)]


def _queries(seeds: list[int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noisy copies (cosine ~0.8) of frames 40-59 of each seed's work, and the frame numbers."""
    rows = np.arange(40, 60)
    q = np.concatenate([_work_vectors(s)[rows] for s in seeds])
    noisy = _unit(q + 0.6 * _unit(rng.normal(size=q.shape)) * 1.0)
    return noisy, np.tile(rows, len(seeds))


SMALL = IndexParams(flat_limit=1_500)  # a fold every few works


def _found(lib: Library, queries: np.ndarray, seeds: list[int]) -> tuple[float, np.ndarray]:
    """The share of queries whose nearest stored frame is in the work they copy, and the top similarities."""
    keys = {w.title: w.key for w in lib.works()}
    want = np.repeat([keys[f"work{s:03d}"] for s in seeds], 20)
    found = lib.index().search(queries, 16)
    return float(np.mean(found.work_keys[:, 0] == want)), found.similarities[:, 0]


def test_folds_and_a_rebuild_keep_what_exact_search_finds(tmp_path, work_npz):
    """40 works registered one by one fold into segments once the exact part passes its
    limit, without a rebuild; the nearest stored frame of each noisy copy stays in its work,
    with the similarity its stored descriptor gives. A removed work's vectors never come
    back, though they stay in a segment file until the rebuild."""
    seeds = [0, 9, 17, 26, 39]
    queries, _ = _queries(seeds, np.random.default_rng(5))
    exact_library = str(tmp_path / "exact")
    with Library(exact_library, index=IndexParams(flat_limit=10**9)) as lib:
        for path in work_npz:
            assert lib.register(path).created
        exact_share, exact_sims = _found(lib, queries, seeds)
        assert lib.index_status()["segments"] == []
    assert exact_share == 1.0

    folder = str(tmp_path / "folded")
    with Library(folder, index=SMALL) as lib:
        for path in work_npz:
            assert lib.register(path).created
        status = lib.index_status()
        assert status["exact_vectors"] <= SMALL.flat_limit
        assert [s["kind"] for s in status["segments"]][0] == "base" and len(status["segments"]) >= 2
        assert status["vectors"] == sum(s["vectors"] for s in status["segments"]) + status["exact_vectors"]
        share, sims = _found(lib, queries, seeds)
        assert share == 1.0
        assert np.allclose(sims, exact_sims, atol=1e-5)

        result = lib.rebuild_index()
        assert result.works == 40 and result.vectors == status["vectors"]
        status = lib.index_status()
        assert [s["kind"] for s in status["segments"]] == ["base"] and status["exact_vectors"] == 0
        share, sims = _found(lib, queries, seeds)
        assert share == 1.0 and np.allclose(sims, exact_sims, atol=1e-5)

        gone = next(w for w in lib.works() if w.title == "work009")
        lib.remove(gone.work_id)
        found = lib.index().search(queries, 16)
        assert gone.key not in set(found.work_keys.ravel().tolist())
    # Another process sees the same index without rebuilding anything.
    with Library(folder, index=SMALL) as other:
        again = other.index().search(queries, 16)
    assert np.array_equal(again.work_keys, found.work_keys)


def test_a_killed_rebuild_resumes_from_its_checkpoint_and_the_library_stays_usable(tmp_path, work_npz):
    """SIGKILL a rebuild right after a checkpoint: the library still opens, lists, finds
    every work and registers; the next rebuild resumes from the checkpoint and ends with one
    base segment holding every work, the new one included."""
    folder = str(tmp_path / "lib")
    seeds = [2, 21, 29]
    queries, _ = _queries(seeds, np.random.default_rng(7))
    with Library(folder, index=SMALL) as lib:
        for path in work_npz[:30]:
            assert lib.register(path).created
        before, _ = _found(lib, queries, seeds)
    hold = str(tmp_path / "hold")
    open(hold, "w").close()
    env = subprocess_env() | {holds.HOLD_AT_ENV: "index:rebuild-checkpoint", holds.HOLD_FILE_ENV: hold}
    code = ("import sys; from reeltrace.library import Library; from reeltrace.video.index import IndexParams\n"
            f"Library(sys.argv[1], index=IndexParams(flat_limit={SMALL.flat_limit})).rebuild_index(checkpoint=3000)")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code, folder], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(holds.reached_marker(hold)):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the rebuild never reached its checkpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert run_cli("--library", folder, "works").code == 0
    with Library(folder, index=SMALL) as lib:
        assert lib.index_status()["rebuild_in_progress"]
        share, _ = _found(lib, queries, seeds)
        assert share == before == 1.0
        assert lib.register(work_npz[30]).created
        result = lib.rebuild_index(checkpoint=3000)
        assert result.resumed_from >= 3000 and result.works == 31
        status = lib.index_status()
        assert [s["kind"] for s in status["segments"]] == ["base"] and not status["rebuild_in_progress"]
        assert status["segments"][0]["vectors"] == status["vectors"]
        share, _ = _found(lib, queries, seeds)
        assert share == 1.0
    named = set()
    db = sqlite3.connect(os.path.join(folder, "library.sqlite"))
    named |= {r[0] for r in db.execute("SELECT file FROM index_segments")}
    db.close()
    left = {os.path.join("index", f) for f in os.listdir(os.path.join(folder, "index")) if f.startswith(("base", "delta"))}
    assert left == named, "segment files of the old index or of the checkpoint were left behind"


V2_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE works (key INTEGER PRIMARY KEY AUTOINCREMENT, work_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    owner TEXT NOT NULL, category TEXT NOT NULL, duration REAL NOT NULL, content_hash TEXT NOT NULL UNIQUE,
    source_path TEXT NOT NULL, registered_at TEXT NOT NULL, has_video INTEGER NOT NULL, has_audio INTEGER NOT NULL,
    frames INTEGER NOT NULL DEFAULT 0);
CREATE TABLE visual_features (work_key INTEGER PRIMARY KEY REFERENCES works(key) ON DELETE CASCADE,
    model TEXT NOT NULL, sample_fps REAL NOT NULL, dim INTEGER NOT NULL, timestamps BLOB NOT NULL,
    embeddings BLOB NOT NULL);
CREATE TABLE audio_features (work_key INTEGER PRIMARY KEY REFERENCES works(key) ON DELETE CASCADE,
    hashes BLOB NOT NULL, times BLOB NOT NULL, duration REAL NOT NULL);
"""


def test_a_schema_2_library_moves_its_descriptors_to_files_when_opened(tmp_path):
    """A library written before descriptor files (float16 rows in SQLite) opens: its works
    keep their ids, their descriptors move to files (the old table goes), and each work's
    frames are found again."""
    folder = tmp_path / "old"
    folder.mkdir()
    db = sqlite3.connect(folder / "library.sqlite")
    db.executescript(V2_SCHEMA)
    db.executemany("INSERT INTO meta VALUES(?, ?)", [("schema_version", "2"), ("generation", "3"), ("model", "sscd_distilled")])
    seeds = [3, 4, 5]
    for key, seed in enumerate(seeds, 1):
        vectors = _work_vectors(seed)
        db.execute("INSERT INTO works VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                   (key, f"old-{seed}", f"work{seed:03d}", "", "film", FRAMES * 0.5, hashlib.sha256(bytes([seed])).hexdigest(),
                    "", "2026-01-01T00:00:00+00:00", 1, 0, FRAMES))  # fmt: skip
        db.execute("INSERT INTO visual_features VALUES(?,?,?,?,?,?)",
                   (key, "sscd_distilled", 2.0, DIM, (np.arange(FRAMES, dtype=np.float32) * 0.5).tobytes(),
                    vectors.astype(np.float16).tobytes()))  # fmt: skip
    db.commit()
    db.close()
    with Library(str(folder)) as lib:
        assert [w.work_id for w in lib.works()] == ["old-3", "old-4", "old-5"]
        share, sims = _found(lib, _queries(seeds, np.random.default_rng(1))[0], seeds)
        assert share == 1.0
        assert lib.index_status()["frames"] == 3 * FRAMES
    db = sqlite3.connect(folder / "library.sqlite")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert "visual_features" not in tables and "visual_vectors" in tables
    assert run_cli("--library", str(folder), "works").code == 0


def test_stored_codes_decode_within_the_measured_error():
    """The 4-bit code keeps a unit SSCD-like descriptor within cosine 0.98 and inner
    products with other unit vectors within 0.03; each byte holds two components, low
    nibble first, which FAISS's uniform 4-bit quantiser reads the same way."""
    vectors = _work_vectors(11)[:64]
    packed = codes.encode(vectors)
    assert packed.shape == (64, DIM // 2) and packed.dtype == np.uint8
    decoded = codes.decode(packed)
    cos = (_unit(decoded) * vectors).sum(1)
    assert cos.min() > 0.98
    others = _work_vectors(12)[:64]
    assert np.abs(others @ decoded.T - others @ vectors.T).max() < 0.03
    low = np.clip(np.rint((vectors[0, 0] + codes.RANGE) * codes.LEVELS / (2 * codes.RANGE)), 0, 15)
    assert packed[0, 0] & 15 == low
    from reeltrace.video.index import sq4_index

    faiss_index = sq4_index(DIM)
    faiss_index.add(np.ascontiguousarray(decoded))
    assert np.allclose(faiss_index.reconstruct_n(0, 64), decoded, atol=1e-6)


def test_scale_bench_distractors_hold_still_and_move_like_footage():
    """The scale bench's distractor works (``bench.scale.DistractorMaker``) are unit
    descriptors in shots: most consecutive frames are close, a cut is not, and static-shot
    merging keeps some but not all of them. Their share kept is what the bench's disk per
    hour measures; the first version kept 92% (no shot ever held still)."""
    from reeltrace.bench.scale import DistractorMaker
    from reeltrace.video.shots import ShotParams, merge_static_shots

    pool = np.concatenate([_work_vectors(s) for s in range(3)])
    maker = DistractorMaker(pool, seed=5)
    work = maker.work(3000)
    assert work.shape == (3000, DIM)
    assert np.allclose(np.linalg.norm(work, axis=1), 1, atol=1e-4)
    consecutive = (work[1:] * work[:-1]).sum(1)
    p10, p50, p90 = np.quantile(consecutive, [0.1, 0.5, 0.9])
    assert p50 > 0.9 and p90 > 0.98 and p10 < p50 - 0.1
    kept = (len(merge_static_shots(np.arange(3000) * 0.5, work, ShotParams())) - 1) / 3000
    assert 0.4 < kept < 0.85
    again = DistractorMaker(pool, seed=5).work(3000)
    assert np.array_equal(work, again)  # seeded: the same catalogue every run


def test_rows_are_read_from_descriptor_files_as_the_map_holds_them(tmp_path):
    """``vectors.read_rows`` (re-scoring's reads, by ``pread``) returns exactly the mapped
    codes' rows, for rows far apart, adjacent and merged into spans, and refuses a file
    cut short under it."""
    from reeltrace.storage import vectors as vector_files
    from reeltrace.video.records import StoredFrames

    rng = np.random.default_rng(4)
    packed = rng.integers(0, 256, (5000, DIM // 2), dtype=np.uint8)
    frames = StoredFrames(np.arange(6000, dtype=np.float32) / 2, np.r_[np.arange(5000), 6000].astype(np.uint32),
                          packed, codes.CODE_NAME)  # fmt: skip
    path = str(tmp_path / "w.rtv")
    vector_files.write(path, frames)
    stored = vector_files.read(path)
    for rows in ([0], [4999], [3, 4, 5, 6], [0, 100, 129, 2000, 2001, 4999], sorted(rng.choice(5000, 700, replace=False))):
        rows = np.asarray(rows)
        assert np.array_equal(vector_files.read_rows(stored, rows), packed[rows])
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) - 4096)
    with pytest.raises(vector_files.VectorFileError):
        vector_files.read_rows(stored, np.asarray([4999]))
