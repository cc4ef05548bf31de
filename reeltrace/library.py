"""The library API: register works, scan queries, list and remove works.

A library is one folder::

    library.sqlite        works and their frame descriptors (source of truth, WAL)
    index/visual-N.faiss  vector index cache for catalogue generation N

Everything the CLI and the service do goes through ``Library``.
"""

from __future__ import annotations

import os
import re
import time

from .align import AlignParams, align
from .candidates import RetrievalParams, retrieve
from .decide import DEFAULT_SCORE_MODEL, ScoreModel, decide
from .index import VisualIndex
from .media import MEDIA_SUFFIXES, MediaError, file_hash, probe
from .records import CATEGORIES, RegisterResult, ScanResult, Work, WorkMatch
from .store import Store, StoreError
from .visual import DEFAULT_MODEL, FrameEmbedder, describe_video

SAMPLE_FPS = 2.0
"""Frames sampled per second, for works and queries alike. At 2/s a shot of one second has
two samples, segment bounds land within a quarter second on average, and registering the
720p film runs at over 30x realtime on 2 cores (BENCHMARKS.md); 4/s doubled the embedding
cost without finding more of the trailer."""

WORK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class LibraryError(Exception):
    """A request the library refuses (unknown work, bad id or category)."""


def expand_paths(paths: list[str]) -> list[str]:
    """Files as named, and media files found by walking named folders (sorted, no hidden)."""
    out: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and os.path.splitext(name)[1].lower() in MEDIA_SUFFIXES:
                        out.append(os.path.join(root, name))
        else:
            out.append(path)
    return out


class Library:
    """One library folder. Not thread-safe; open one per process or thread."""

    def __init__(self, folder: str, model: str | None = None, sample_fps: float = SAMPLE_FPS):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.store = Store(os.path.join(folder, "library.sqlite"))
        stored = self.store.model()
        if model is not None and stored is not None and stored != model:
            raise LibraryError(f"library was built with model {stored!r}, not {model!r}")
        self.model = stored or model or DEFAULT_MODEL
        self.sample_fps = sample_fps
        self.retrieval = RetrievalParams()
        self.alignment = AlignParams()
        self.scoring: ScoreModel = DEFAULT_SCORE_MODEL
        self._embedder: FrameEmbedder | None = None
        self._index: VisualIndex | None = None
        self._index_dirty = False

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._index is not None and self._index_dirty:
            self._index.save(self._index_folder)
            self._index_dirty = False
        self.store.close()

    @property
    def _index_folder(self) -> str:
        return os.path.join(self.folder, "index")

    @property
    def embedder(self) -> FrameEmbedder:
        if self._embedder is None:
            self._embedder = FrameEmbedder(self.model)
        return self._embedder

    def index(self) -> VisualIndex:
        """The vector index, current with the database."""
        generation = self.store.generation()
        if self._index is None or self._index.generation != generation:
            self._index = VisualIndex.load(self._index_folder, self.store, self.embedder.dim)
            self._index_dirty = False
        return self._index

    # -- catalogue -------------------------------------------------------------------------

    def works(self) -> list[Work]:
        return self.store.works()

    def work(self, work_id: str) -> Work | None:
        return self.store.work(work_id)

    def register(
        self,
        path: str,
        title: str | None = None,
        owner: str = "",
        category: str = "film",
        work_id: str | None = None,
    ) -> RegisterResult:
        """Register one file as a work. Errors in the input come back in the result."""
        if category not in CATEGORIES:
            raise LibraryError(f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")
        if work_id is not None and not WORK_ID.match(work_id):
            raise LibraryError("work id must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        try:
            info = probe(path)
            digest = file_hash(path)
            existing = self.store.work_by_hash(digest)
            if existing is not None:
                return RegisterResult(path, existing, created=False)
            if not info.has_video:
                raise MediaError("no video stream (audio-only works are not supported yet)")
            features = describe_video(path, self.embedder, self.sample_fps, info.duration, query=False)
            if len(features) == 0:
                raise MediaError("no usable frames (blank or uniform picture)")
            work = Work(
                work_id=work_id or "w" + digest[:10],
                title=title if title else os.path.splitext(os.path.basename(path))[0],
                owner=owner,
                category=category,
                duration=max(info.duration, float(features.timestamps[-1]) + 1.0 / self.sample_fps),
                content_hash=digest,
                source_path=os.path.abspath(path),
                registered_at="",
                has_video=True,
                has_audio=info.has_audio,
            )
            index = self.index()
            stored, generation = self.store.add_work(
                work, self.model, self.sample_fps, features.timestamps, features.embeddings
            )
        except MediaError as err:
            return RegisterResult(path, error=str(err))
        except StoreError as err:
            if str(err) == "same content already registered":
                return RegisterResult(path, self.store.work_by_hash(digest), created=False)
            raise LibraryError(str(err)) from None
        if index.generation == generation - 1:
            index.add(stored.key, features.timestamps, features.embeddings)
            index.generation = generation
            self._index_dirty = True
        return RegisterResult(path, stored, created=True)

    def remove(self, work_id: str) -> Work:
        try:
            work, generation = self.store.remove_work(work_id)
        except StoreError as err:
            raise LibraryError(str(err)) from None
        if self._index is not None and self._index.generation == generation - 1:
            self._index.remove(work.key)
            self._index.generation = generation
            self._index_dirty = True
        return work

    # -- scanning --------------------------------------------------------------------------

    def scan(self, path: str) -> ScanResult:
        """Every segment of every registered work that the file at ``path`` reuses."""
        started = time.perf_counter()
        result = ScanResult(query=path)
        try:
            info = probe(path)
            result.duration = info.duration
            if not info.has_video:
                raise MediaError("no video stream (audio-only queries are not supported yet)")
            features = describe_video(path, self.embedder, self.sample_fps, info.duration, query=True)
        except MediaError as err:
            result.error = str(err)
            result.elapsed = time.perf_counter() - started
            return result
        index = self.index()
        step = 1.0 / self.sample_fps
        for pair in retrieve(index, features, self.retrieval):
            work = self.store.work_by_key(pair.work_key)
            if work is None:
                continue
            chains = align(pair, self.alignment)
            segments = decide(chains, step, info.duration, work.duration, self.scoring)
            if segments:
                best = max(s.score for s in segments)
                result.matches.append(WorkMatch(work, "video", best, segments))
        result.matches.sort(key=lambda m: -m.score)
        result.elapsed = time.perf_counter() - started
        return result
