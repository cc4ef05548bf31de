"""Approximate search for large libraries: an inverted file of 4-bit product codes, on disk.

Structure (``IVF{nlist},PQ{d/8}x4fs``, inner product), measured on 1,004,018 vectors
(4,018 real frames plus a million distractors drawn from their distribution, 720 real and
perturbed queries, k = 64; docs/index.md):

* **Inverted file, ``nlist`` lists.** A query descriptor visits the ``nprobe`` lists whose
  centroids are nearest. ``nlist ~ 2 sqrt(n)`` (a power of two, 64-4096) keeps a list at
  a few hundred to ~1,200 vectors, so ``nprobe = 32`` reads ~40k codes at 5 M vectors.
* **Fast-scan product codes, 64 sub-quantisers of 4 bits (32 B a vector).** Scanned with
  SIMD lookup tables in registers: 0.11 s for 720 queries over 1 M vectors on 2 cores,
  against 0.49 s for 8-bit PQ64 and 5.6 s for exact search. Their similarities alone are
  too coarse (recall of the exact top-64 stuck at 0.75 whatever ``nprobe``), so they only
  make a shortlist: ``rerank_factor x k`` neighbours per descriptor, re-scored against the
  stored 4-bit descriptors (``index``). With a 4x shortlist recall rises to 0.90 at
  ``nprobe`` 32, the true source frame is in the top-64 for 99.6% of perturbed queries,
  and similarities are those of the stored descriptors.
* **On disk, 40 B a vector in memory.** A segment is one file, read whole when a process
  opens it (0.4 s for 6.7 M vectors). Mapping it instead (``IO_FLAG_MMAP_IFC``) saved
  nothing for fast-scan lists, which FAISS copies into its own blocks: at 1,000 hours it
  counted 258 MB anonymous plus 258 MB of file pages, against 268 MB read (BENCHMARKS.md).

A *codec* is an empty trained index (centroids, product quantiser); every segment of a
library is a copy of one codec with vectors added, so a new segment never retrains.
Alternatives measured and not taken: PCA to 256 or 128 dimensions (SSCD's spectrum is flat:
reconstruction cosine 0.81 and 0.66); 8-bit PQ without re-ranking (similarities off by
0.04, recall 0.80, 4x slower); ``OnDiskInvertedLists`` with 8-bit PQ (in-place adds, but
3-7x slower searches).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import faiss
import numpy as np

from ..storage.files import atomic_write


def nlist_for(vectors: int) -> int:
    """Lists for a catalogue of ``vectors``: the power of two nearest 2 sqrt(n), in 64-4096."""
    return int(min(4096, max(64, 2 ** round(math.log2(max(2.0 * math.sqrt(max(vectors, 1)), 1.0))))))


def train_points(nlist: int) -> int:
    """Training sample for ``nlist`` centroids: 40 a centroid (FAISS warns below 39), at
    least 10,000 for the product quantiser."""
    return max(40 * nlist, 10_000)


def train_codec(sample: np.ndarray, nlist: int, threads: int | None = None) -> faiss.Index:
    """An empty index with centroids and product codes trained on ``sample`` (unit rows)."""
    dim = sample.shape[1]
    nlist = max(1, min(nlist, len(sample) // 39))
    index = faiss.index_factory(dim, f"IVF{nlist},PQ{dim // 8}x4fs", faiss.METRIC_INNER_PRODUCT)
    faiss.extract_index_ivf(index).cp.seed = 1234  # the same sample trains the same codec
    index.train(np.ascontiguousarray(sample, np.float32))
    return index


def nlist_of(index: faiss.Index) -> int:
    return int(faiss.extract_index_ivf(index).nlist)


def write(index: faiss.Index, path: str) -> None:
    atomic_write(path, lambda tmp: faiss.write_index(index, tmp))


def read(path: str) -> faiss.Index:
    """A codec or segment, read whole (mapping fast-scan lists saves nothing: see above)."""
    return faiss.read_index(path)


def add(index: faiss.Index, ids: np.ndarray, vectors: np.ndarray, batch: int = 65_536,
        progress: Callable[[int], None] | None = None) -> None:  # fmt: skip
    for start in range(0, len(ids), batch):
        part = np.ascontiguousarray(vectors[start : start + batch], np.float32)
        index.add_with_ids(part, np.ascontiguousarray(ids[start : start + batch], np.int64))
        if progress is not None:
            progress(len(part))


def search(index: faiss.Index, vectors: np.ndarray, k: int, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, ids) of the ``k`` best product-code matches; ids -1 where fewer."""
    params = faiss.SearchParametersIVF(nprobe=nprobe)
    return index.search(np.ascontiguousarray(vectors, np.float32), k, params=params)
