"""Visual index over all registered works: frame descriptors in FAISS.

A vector's id packs where it came from: ``id = work_key << FRAME_BITS | frame_number``, so
a search hit names its work and frame without a lookup table, and removing a work is one
id-range removal.

The index is a cache of what SQLite holds (``storage.store``), saved as
``index/visual-<generation>.faiss`` with an atomic rename. A reader whose generation does
not match the database rebuilds it from the database; so a crash between the database
commit and the index write costs a rebuild, never a wrong answer.
"""

from __future__ import annotations

import os

import faiss
import numpy as np

from ..storage.caches import save_cache
from ..storage.store import Store
from .records import Neighbours

FRAME_BITS = 24  # 16.7 M frames per work: over 2000 hours at 2 frames/s
FACTORY = "IDMap2,SQfp16"
"""Exact inner-product search over float16 vectors: half the bytes of float32 at no
measurable loss for cosine similarity. Large libraries can switch to "IDMap2,IVF4096,SQfp16"
(approximate, trained), behind the same interface."""


def pack_ids(work_key: int, count: int) -> np.ndarray:
    return (np.int64(work_key) << FRAME_BITS) | np.arange(count, dtype=np.int64)


class VisualIndex:
    """Nearest-neighbour search from query descriptors to (work, frame) pairs."""

    def __init__(self, index: faiss.Index, generation: int, work_times: dict[int, np.ndarray]):
        self._index = index
        self.generation = generation
        self.work_times = work_times  # work_key -> timestamps of its indexed frames

    def __len__(self) -> int:
        return self._index.ntotal

    @classmethod
    def empty(cls, dim: int) -> VisualIndex:
        return cls(faiss.index_factory(dim, FACTORY, faiss.METRIC_INNER_PRODUCT), 0, {})

    @classmethod
    def build(cls, store: Store, dim: int) -> VisualIndex:
        generation, items = store.visual_features()
        index = cls.empty(dim)
        index.generation = generation
        for key, times, vectors in items:
            index.add(key, times, vectors)
        return index

    @classmethod
    def load(cls, folder: str, store: Store, dim: int) -> VisualIndex:
        """The index matching the database now: from the cache file, else rebuilt (and cached)."""
        generation = store.generation()
        path = os.path.join(folder, f"visual-{generation}.faiss")
        index = None
        if os.path.exists(path):
            try:
                index = faiss.read_index(path)
            except RuntimeError:
                index = None  # unreadable cache: rebuild below
        if index is not None:
            times = store.all_work_times()
            if sum(len(t) for t in times.values()) == index.ntotal:
                return cls(index, generation, times)
        rebuilt = cls.build(store, dim)
        rebuilt.save(folder)
        return rebuilt

    def add(self, work_key: int, times: np.ndarray, vectors: np.ndarray) -> None:
        if len(vectors):
            # Through float16 first, as the database stores them: FAISS's own fp16 encoding
            # rounds differently, and a cache must equal the index rebuilt from the database.
            vectors = np.asarray(vectors, np.float16).astype(np.float32)
            self._index.add_with_ids(vectors, pack_ids(work_key, len(vectors)))
        self.work_times[work_key] = np.asarray(times, np.float64)

    def remove(self, work_key: int) -> None:
        lo = np.int64(work_key) << FRAME_BITS
        self._index.remove_ids(faiss.IDSelectorRange(int(lo), int(lo + (1 << FRAME_BITS))))
        self.work_times.pop(work_key, None)

    def save(self, folder: str) -> str:
        """Write atomically as this generation's cache file and drop older ones."""
        return save_cache(folder, "visual", ".faiss", self.generation, lambda tmp: faiss.write_index(self._index, tmp))

    def search(self, vectors: np.ndarray, k: int) -> Neighbours:
        """The top-k neighbours of each row of ``vectors``."""
        k = min(k, max(self._index.ntotal, 1))
        if self._index.ntotal == 0 or len(vectors) == 0:
            empty = np.zeros((len(vectors), 0))
            return Neighbours(empty, empty.astype(np.int64), empty.astype(np.int64))
        sims, ids = self._index.search(np.ascontiguousarray(vectors, np.float32), k)
        keys = np.where(ids >= 0, ids >> FRAME_BITS, -1)
        frames = np.where(ids >= 0, ids & ((1 << FRAME_BITS) - 1), -1)
        return Neighbours(sims, keys, frames)
