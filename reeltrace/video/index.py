"""Visual index over all registered works: which stored frames look like a query's.

Two parts, searched together, and one way of scoring what they find:

* **Exact part**: works not yet in a segment (a small library, or works registered since the
  last fold). Their stored descriptors are decoded into an in-memory flat index; at most
  ``IndexParams.flat_limit`` vectors, because exact search costs ~0.5 s per 100k vectors
  for a 60 s query on 2 cores.
* **Segments**: inverted files of product codes on disk (``ann``), a ``base`` built by
  ``reeltrace index rebuild`` and a ``delta`` of the works folded in since. Each returns a
  shortlist of ``rerank_factor x k`` neighbours per descriptor. On a library whose vectors
  are on Milvus, one segment of kind ``milvus`` (a collection, ``milvus``) takes their place
  (``RemoteSegment``).

Every neighbour is scored the same way: the inner product of the query descriptor with the
work frame's stored 4-bit descriptor (``codes``), read from the work's memory-mapped file.
So a small library's results are exact over what is stored, and a large one differs only
by what a shortlist misses.

A vector's id packs where it came from: ``id = work_key << FRAME_BITS | vector_number``,
so a hit names its work and stored descriptor without a lookup table. A hit is kept only
while the database says the work's vectors are in the part that returned it: a removed
work, or one a newer segment holds, is never scored twice or resurrected.

Nothing here is rebuilt when the library opens: the database names the codec and segment
files (``storage.store``), which are opened as they are; only the exact part is decoded.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import faiss
import numpy as np

from ..storage import vectors as vector_files
from ..storage.store import IndexSegment, StoreError, VisualEntry, VisualState
from . import ann, codes
from .records import Neighbours, StoredFrames

FRAME_BITS = 24  # 16.7 M stored vectors per work: over 2000 hours at 2 frames/s
FRAME_MASK = (1 << FRAME_BITS) - 1


@dataclass(frozen=True)
class IndexParams:
    flat_limit: int = 25_000
    """Vectors searched exactly before they are folded into a segment (~5 h of video):
    25k decoded descriptors hold 51 MB and cost ~0.15 s of search per 60 s query."""
    nprobe: int = 32
    """Lists visited per descriptor: recall 0.90 at 32 against 0.88 at 8 and 0.93 at 128,
    with the source frame found 99.6% of the time from 16 up (docs/index.md)."""
    rerank_factor: int = 4
    """Shortlist per descriptor, in multiples of the k asked for: 4x lifted recall from 0.75
    (product codes alone) to 0.90."""
    rebuild_ratio: float = 4.0
    """A codec trained on n vectors serves a catalogue up to this many times n; past it,
    lists grow long and ``reeltrace index status`` asks for a rebuild."""
    open_files: int = 4096
    """Work descriptor files kept mapped at once."""


def pack_ids(work_key: int, count: int) -> np.ndarray:
    return (np.int64(work_key) << FRAME_BITS) | np.arange(count, dtype=np.int64)


def sq4_index(dim: int) -> faiss.IndexScalarQuantizer:
    """An empty FAISS index whose codes are ``codes``' bytes, bit for bit (its uniform 4-bit
    quantiser decodes ``vmin + (c + 0.5) / 15 * vdiff``; these two numbers make that
    ``codes.decode``)."""
    index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_4bit_uniform, faiss.METRIC_INNER_PRODUCT)
    r = codes.RANGE
    faiss.copy_array_to_vector(np.array([-r * (1 + 1 / codes.LEVELS), 2 * r], np.float32), index.sq.trained)
    index.is_trained = True
    return index


class RemoteSegment(Protocol):
    """A segment kept outside the library folder (``video.milvus``): a shortlist of packed
    ids per query row, ``-1`` past its last; ``ntotal``, the vectors the database places in it."""

    ntotal: int

    def shortlist(self, vectors: np.ndarray, k: int) -> np.ndarray: ...


FILE_KINDS = ("base", "delta")  # segments that are FAISS files in the library folder (``segments``)


class VisualIndex:
    """Nearest-neighbour search from query descriptors to (work, stored vector) pairs.

    Segments of another kind than ``FILE_KINDS`` (a Milvus collection) are opened by
    ``open_remote`` and searched through their ``shortlist``; their hits are kept, re-scored
    and merged exactly as a file segment's."""

    def __init__(self, folder: str, dim: int, params: IndexParams = IndexParams(),
                 open_remote: Callable[[IndexSegment], RemoteSegment] | None = None):  # fmt: skip
        self.folder = folder  # the library folder: entries' file names are relative to it
        self.dim = dim
        self.params = params
        self.generation: tuple[int, int] = (-1, -1)  # the VisualState.version it follows
        self._entries: dict[int, VisualEntry] = {}
        self._flat_keys: tuple[int, ...] = ()
        self._flat: faiss.Index | None = None
        self._segments: dict[str, faiss.Index] = {}  # segment id -> its index, read into memory
        self._files: OrderedDict[int, StoredFrames] = OrderedDict()
        self._codec = sq4_index(dim)  # decodes stored codes in C++ (bit for bit codes.decode)
        self._open_remote = open_remote
        self._remote: set[str] = set()  # ids of the segments opened by open_remote

    @classmethod
    def of_works(cls, folder: str, works: dict[int, tuple[np.ndarray, np.ndarray]], dim: int,
                 params: IndexParams = IndexParams()) -> VisualIndex:  # fmt: skip
        """An index over hand-made works ``{key: (times, unit descriptors)}``, one stored
        vector per frame, all searched exactly: for stage tests and experiments, without
        a library database."""
        entries = []
        for key, (times, vectors) in works.items():
            stored = StoredFrames(np.asarray(times, np.float32), np.arange(len(times) + 1, dtype=np.uint32),
                                  codes.encode(vectors), codes.CODE_NAME)  # fmt: skip
            file = os.path.join(vector_files.FOLDER, f"work-{key}.rtv")
            checksum = vector_files.write(os.path.join(folder, file), stored)
            entries.append(VisualEntry("", 0.0, dim, len(times), len(times), codes.CODE_NAME, file, checksum, key))
        index = cls(folder, dim, params)
        index.refresh(VisualState((0, 0), entries, [], None))
        return index

    def __len__(self) -> int:
        return sum(e.vectors for e in self._entries.values())

    def refresh(self, state: VisualState) -> None:
        """Follow the database: open new segments, drop retired ones, decode the exact part
        again only if its works changed. Costs what changed, not the catalogue."""
        entries = {e.key: e for e in state.entries}
        for key in list(self._files):
            old = self._entries.get(key)
            if key not in entries or old is None or old.file != entries[key].file:
                del self._files[key]
        live = {s.id: s for s in state.segments}
        for seg_id in list(self._segments):
            if seg_id not in live:
                del self._segments[seg_id]
        for seg in state.segments:
            if seg.id not in self._segments:
                self._segments[seg.id] = self._open(seg)
        self._entries = entries
        self._remote = {seg.id for seg in state.segments if seg.kind not in FILE_KINDS}
        for seg_id in self._remote:  # grows in place: its count is that of the works in it
            self._segments[seg_id].ntotal = sum(e.vectors for e in state.entries if e.segment == seg_id)
        flat_keys = tuple(k for k, e in entries.items() if e.segment is None)
        if flat_keys != self._flat_keys or self._flat is None:
            self._flat = self._build_flat(flat_keys)
            self._flat_keys = flat_keys
        self.generation = state.version

    def _open(self, seg: IndexSegment):
        if seg.kind in FILE_KINDS:
            return ann.read(os.path.join(self.folder, seg.file))
        if self._open_remote is None:
            raise StoreError(f"the library's index segment {seg.id!r} is of kind {seg.kind!r}, which this index "
                             "cannot open (see 'reeltrace init --vectors')")  # fmt: skip
        return self._open_remote(seg)

    def _build_flat(self, keys: tuple[int, ...]) -> faiss.Index:
        flat = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        for key in keys:
            stored = self.frames(key)
            if stored is not None and len(stored):
                flat.add_with_ids(codes.decode(stored.codes), pack_ids(key, len(stored)))
        return flat

    def frames(self, key: int) -> StoredFrames | None:
        """The work's stored frames (memory-mapped), or None for a work without picture."""
        stored = self._files.get(key)
        if stored is not None:
            self._files.move_to_end(key)
            return stored
        entry = self._entries.get(key)
        if entry is None:
            return None
        try:
            stored = vector_files.read(os.path.join(self.folder, entry.file))
        except vector_files.VectorFileError:
            if os.path.exists(os.path.join(self.folder, entry.file)):
                raise
            return None  # removed by another process since this index was refreshed
        self._files[key] = stored
        if len(self._files) > self.params.open_files:
            self._files.popitem(last=False)
        return stored

    def search(self, vectors: np.ndarray, k: int) -> Neighbours:
        """The top-k stored neighbours of each row of ``vectors``, most similar first."""
        n = len(vectors)
        if n == 0 or not self._entries:
            empty = np.zeros((n, 0), np.float32)
            return Neighbours(empty, empty.astype(np.int64), empty.astype(np.int64))
        vectors = np.ascontiguousarray(vectors, np.float32)
        parts_sims, parts_ids = [], []
        if self._flat is not None and self._flat.ntotal:
            sims, ids = self._flat.search(vectors, min(k, self._flat.ntotal))
            parts_sims.append(sims)
            parts_ids.append(ids)
        for seg_id, segment in self._segments.items():
            if segment.ntotal == 0:
                continue
            if seg_id in self._remote:
                ids = segment.shortlist(vectors, k)
            else:
                _, ids = ann.search(segment, vectors, min(k * self.params.rerank_factor, segment.ntotal),
                                    self.params.nprobe)  # fmt: skip
            ids = self._members(ids, seg_id)
            parts_sims.append(self._rescore(vectors, ids))
            parts_ids.append(ids)
        if not parts_sims:
            empty = np.zeros((n, 0), np.float32)
            return Neighbours(empty, empty.astype(np.int64), empty.astype(np.int64))
        sims = np.concatenate(parts_sims, axis=1)
        ids = np.concatenate(parts_ids, axis=1)
        sims = np.where(ids >= 0, sims, -np.inf)
        width = min(k, sims.shape[1])
        top = np.argsort(-sims, axis=1, kind="stable")[:, :width]
        sims = np.take_along_axis(sims, top, 1)
        ids = np.take_along_axis(ids, top, 1)
        missing = ~np.isfinite(sims)
        ids[missing] = -1
        sims[missing] = -1.0
        keys = np.where(ids >= 0, ids >> FRAME_BITS, -1)
        numbers = np.where(ids >= 0, ids & FRAME_MASK, -1)
        return Neighbours(sims.astype(np.float32), keys, numbers)

    def _members(self, ids: np.ndarray, seg_id: str) -> np.ndarray:
        """``ids`` with -1 for hits whose work the database no longer places in ``seg_id``."""
        keys = ids >> FRAME_BITS
        valid = ids >= 0
        for key in np.unique(keys[valid]):
            entry = self._entries.get(int(key))
            if entry is None or entry.segment != seg_id:
                valid &= keys != key
        return np.where(valid, ids, -1)

    def _rescore(self, vectors: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Inner products of each query row with the stored descriptors its shortlist names.

        Each distinct stored vector is decoded once (views of one instant share most of
        their shortlists), then FAISS computes every (row, shortlisted vector) product
        in place (``fvec_inner_products_by_idx``): gathering the decoded rows in NumPy
        first copied ~250 MB per 60 s query and took 3x as long."""
        sims = np.full(ids.shape, -np.inf, np.float32)
        valid = ids >= 0
        if not valid.any():
            return sims
        unique, inverse = np.unique(ids[valid], return_inverse=True)
        gathered = np.empty((len(unique), codes.code_bytes(self.dim)), np.uint8)
        keys = unique >> FRAME_BITS
        bounds = np.r_[0, np.nonzero(np.diff(keys))[0] + 1, len(unique)]
        slots = np.full(ids.shape, -1, np.int64)
        slots[valid] = inverse
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            stored = self.frames(int(keys[a]))
            if stored is None:  # removed since the refresh: its hits are dropped
                gathered[a:b] = 0
                slots[np.isin(slots, np.arange(a, b))] = -1
                continue
            gathered[a:b] = vector_files.read_rows(stored, unique[a:b] & FRAME_MASK)
        decoded = np.ascontiguousarray(self._codec.sa_decode(gathered), np.float32)
        vectors = np.ascontiguousarray(vectors, np.float32)
        n, width = slots.shape
        faiss.fvec_inner_products_by_idx(faiss.swig_ptr(sims), faiss.swig_ptr(vectors), faiss.swig_ptr(decoded),
                                         faiss.swig_ptr(slots), self.dim, n, width)  # fmt: skip
        return sims
