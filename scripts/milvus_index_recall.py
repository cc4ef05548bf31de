"""Which Milvus index for the shortlist (issue 17, docs/scale-out.md): recall of the exact top 64
for the index types Milvus offers, measured with FAISS (Milvus' HNSW and IVF_PQ are the same
algorithms; DISKANN has no FAISS counterpart and is not measured).

    .venv/bin/python scripts/milvus_index_recall.py LIBRARY QUERIES_DIR [--distractors 200000]

The catalogue: every stored descriptor of LIBRARY (decoded 4-bit codes, as Milvus holds
them) plus distractors drawn from them (``bench.scale.DistractorMaker``, the 1,000-hour
benchmark's), stored the same way. The queries: every picture view of the videos in
QUERIES_DIR, described as a scan describes them. Recall: the share of the exact top 64 at
similarity >= 0.35 (what the matcher keeps) that each index returns in its top 64, after
re-scoring on the stored descriptors.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import faiss
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reeltrace.bench.scale import DistractorMaker  # noqa: E402
from reeltrace.library import Library  # noqa: E402
from reeltrace.media import MEDIA_SUFFIXES, expand_paths  # noqa: E402
from reeltrace.media.container import probe  # noqa: E402
from reeltrace.video import codes  # noqa: E402

K = 64
KEEP = 0.35


def recall(found: np.ndarray, sims: np.ndarray, truth: np.ndarray, truth_sims: np.ndarray) -> float:
    hit = total = 0
    for row in range(len(truth)):
        want = set(truth[row][truth_sims[row] >= KEEP].tolist())
        got = set(found[row][sims[row] >= KEEP].tolist())
        hit += len(want & got)
        total += len(want)
    return hit / max(total, 1)


def top_after_rescoring(base: np.ndarray, queries: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sims = np.empty(ids.shape, np.float32)
    for a in range(0, len(ids), 128):  # in parts: the gathered rows of every query at once are GBs
        part = ids[a:a + 128]
        sims[a:a + 128] = np.einsum("qd,qkd->qk", queries[a:a + 128], base[np.maximum(part, 0)])
    sims[ids < 0] = -np.inf
    order = np.argsort(-sims, axis=1)[:, :K]
    return np.take_along_axis(ids, order, 1), np.take_along_axis(sims, order, 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("library")
    parser.add_argument("queries")
    parser.add_argument("--distractors", type=int, default=200_000)
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)
    with Library(args.library) as lib:
        index = lib.index()
        pool = np.concatenate([codes.decode(np.asarray(index.frames(w.key).codes)) for w in lib.works() if w.has_video])
        views = [lib._describe_query(p, probe(p).duration).embeddings for p in expand_paths([args.queries], MEDIA_SUFFIXES)]
    queries = np.ascontiguousarray(np.concatenate(views), np.float32)
    maker = DistractorMaker(pool, seed=0)
    base = np.concatenate([pool, codes.decode(codes.encode(maker.work(args.distractors)))]).astype(np.float32)
    print(f"{len(base):,} vectors ({len(pool):,} real), {len(queries):,} query descriptors", flush=True)

    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(base)
    began = time.perf_counter()
    truth_sims, truth = exact.search(queries, K)
    print(f"exact: {time.perf_counter() - began:.2f} s; {np.mean(truth_sims >= KEEP) * K:.1f} of 64 kept a query", flush=True)

    rows = []
    for m, ef_construction in ((16, 200),):
        hnsw = faiss.IndexHNSWFlat(base.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = ef_construction
        began = time.perf_counter()
        hnsw.add(base)
        build = time.perf_counter() - began
        for ef in (64, 128, 256):
            hnsw.hnsw.efSearch = ef
            began = time.perf_counter()
            _, ids = hnsw.search(queries, K)
            took = time.perf_counter() - began
            ids, sims = top_after_rescoring(base, queries, ids)
            rows.append((f"HNSW M{m} efC{ef_construction}, ef {ef}, k 64", recall(ids, sims, truth, truth_sims), took, build))
    ivf = faiss.index_factory(base.shape[1], "IVF1024,PQ64", faiss.METRIC_INNER_PRODUCT)
    began = time.perf_counter()
    ivf.train(base[np.random.default_rng(0).choice(len(base), min(len(base), 65_536), replace=False)])
    ivf.add(base)
    build = time.perf_counter() - began
    for nprobe, width in ((32, K), (32, 4 * K), (128, 4 * K)):
        ivf.nprobe = nprobe
        began = time.perf_counter()
        _, ids = ivf.search(queries, width)
        took = time.perf_counter() - began
        ids, sims = top_after_rescoring(base, queries, ids)
        rows.append((f"IVF_PQ nlist 1024 m 64 nbits 8, nprobe {nprobe}, k {width} re-scored", recall(ids, sims, truth, truth_sims), took, build))
    print("| index (FAISS, as Milvus builds it) | recall of the kept top 64 | search s | build s |")
    print("|---|---|---|---|")
    for name, value, took, build in rows:
        print(f"| {name} | {value:.3f} | {took:.2f} | {build:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
