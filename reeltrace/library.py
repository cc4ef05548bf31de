"""The library API: register works, scan queries, list and remove works.

A library is one folder::

    library.sqlite        works, frame descriptors, audio fingerprints (source of truth, WAL)
    index/visual-N.faiss  vector index cache for catalogue generation N
    index/audio-N.npz     audio fingerprint index cache for generation N

Everything the CLI and the service do goes through ``Library``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .audio import match as audio_match
from .audio.config import FINGERPRINT_VERSION, AudioConfig
from .audio.index import AudioIndex, load_audio_index
from .audio.landmarks import fingerprint, fingerprint_query
from .fuse import fuse
from .holds import hold_at
from .media.container import MediaError, file_hash, probe, unexpected
from .media.limits import NO_BUDGET, Budget, InputLimits, LimitExceeded
from .media.sound import decode_audio
from .records import CATEGORIES, RegisterResult, ScanResult, ScanTrace, Work, WorkMatch, valid_work_id
from .storage.caches import save_cache
from .storage.store import SameContentRegistered, Store, StoreError
from .storage.store import WorkIdTaken as StoreWorkIdTaken
from .video.align import align
from .video.background import Background
from .video.candidates import retrieve
from .video.config import VideoConfig
from .video.embed import DEFAULT_MODEL, FrameEmbedder, describe_video
from .video.index import VisualIndex
from .video.score import decide, score_chains


class LibraryError(Exception):
    """A request the library refuses (unknown work, bad id or category)."""


class WorkIdTaken(LibraryError):
    """The id asked for is held by another work."""


LIBRARY_FAULTS = (LibraryError, StoreError, sqlite3.Error)
"""Exceptions about the library itself (refused request, locked, incompatible or damaged
database): they stop a command. Any other exception raised while one input is registered or
scanned is that input's error (``input_error``), and the rest of a batch goes on."""


def input_error(err: Exception) -> str:
    """The one-line error of an input that raised ``err``."""
    return str(err) if isinstance(err, MediaError) else str(unexpected(err, "cannot be processed"))


class Library:
    """One library folder. Not thread-safe; open one per process or thread."""

    def __init__(
        self,
        folder: str,
        model: str | None = None,
        video: VideoConfig | None = None,
        audio: AudioConfig | None = None,
    ):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.store = Store(os.path.join(folder, "library.sqlite"))
        stored = self.store.model()
        if model is not None and stored is not None and stored != model:
            raise LibraryError(f"library was built with model {stored!r}, not {model!r}")
        self.model = stored or model or DEFAULT_MODEL
        self.video = video or VideoConfig()
        self.audio = audio or AudioConfig()
        self._embedder: FrameEmbedder | None = None
        self._index: VisualIndex | None = None
        self._index_dirty = False
        self._background: Background | None = None
        self._audio: AudioIndex | None = None
        self._audio_generation = -1
        self._audio_dirty = False

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._index is not None and self._index_dirty:
            self._index.save(self._index_folder)
            self._index_dirty = False
        if self._audio is not None and self._audio_dirty:
            audio = self._audio

            def write(tmp: str) -> None:
                with open(tmp, "wb") as fh:
                    fh.write(audio.to_bytes())

            save_cache(self._index_folder, "audio", ".npz", self._audio_generation, write)
            self._audio_dirty = False
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

    def background(self) -> Background:
        """Generic pictures that query similarities are normalised against (``background``)."""
        if self._background is None:
            self._background = Background.load(self._index_folder, self.embedder, self.video.background)
        return self._background

    def audio_index(self) -> AudioIndex:
        """The audio fingerprint index, current with the database."""
        if self._audio is None or self._audio_generation != self.store.generation():
            self._audio, self._audio_generation = load_audio_index(self._index_folder, self.store, self.audio)
            self._audio_dirty = False
        return self._audio

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
        limits: InputLimits | None = None,
    ) -> RegisterResult:
        """Register one file as a work. Errors in the input come back in the result, among
        them an input over ``limits`` (``media.limits``; default: none)."""
        if category not in CATEGORIES:
            raise LibraryError(f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")
        if work_id is not None and not valid_work_id(work_id):
            raise LibraryError("work id must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        try:
            info = probe(path)
            budget = NO_BUDGET
            if limits is not None:
                limits.check(info)
                budget = limits.budget()
            digest = file_hash(path)
            existing = self.store.work_by_hash(digest)
            if existing is not None:
                return RegisterResult(path, existing, created=False)
            features = None
            # The sound is fingerprinted in a second thread while the picture is decoded and
            # embedded: both release the GIL in their heavy parts, and registering costs the
            # longer of the two rather than their sum.
            with ThreadPoolExecutor(max_workers=1) as pool:
                sound_job = pool.submit(self._fingerprint, path, not info.has_video, budget) if info.has_audio else None
                if info.has_video:
                    features = describe_video(path, self.embedder, self.video, info.duration, query=False, budget=budget)
                    if len(features) == 0:
                        features = None  # blank picture: the sound may still identify it
                hold_at("register:extracting")
                sound = sound_job.result() if sound_job is not None else None
            if features is None and sound is None:
                raise MediaError("no usable frames (blank or uniform picture) and no sound")
            duration = info.duration
            if features is not None:
                duration = max(duration, float(features.timestamps[-1]) + self.video.sample_step)
            work = Work(
                work_id=work_id or "w" + digest[:10],
                title=title if title else " ".join(os.path.splitext(os.path.basename(path))[0].split()),
                owner=owner,
                category=category,
                duration=duration,
                content_hash=digest,
                source_path=os.path.abspath(path),
                registered_at="",
                has_video=features is not None,
                has_audio=sound is not None,
            )
            index = self.index() if features is not None else None
            audio_index = self.audio_index() if sound is not None else None
            hold_at("register:before-write")
            stored, generation = self.store.add_work(
                work,
                self.model,
                self.video.sample_fps,
                None if features is None else features.timestamps,
                None if features is None else features.embeddings,
                sound,
            )
        except MediaError as err:
            return RegisterResult(path, error=str(err))
        except SameContentRegistered:
            return RegisterResult(path, self.store.work_by_hash(digest), created=False)
        except StoreWorkIdTaken as err:
            raise WorkIdTaken(str(err)) from None
        except StoreError as err:
            raise LibraryError(str(err)) from None
        except LIBRARY_FAULTS:
            raise
        except Exception as err:
            return RegisterResult(path, error=input_error(err))
        hold_at("register:after-commit")
        # Keep the in-memory indexes current when nobody else changed the library meanwhile;
        # otherwise the next use rebuilds them from the database.
        if index is not None and index.generation == generation - 1:
            index.add(stored.key, features.timestamps, features.embeddings)
            index.generation = generation
            self._index_dirty = True
        elif self._index is not None and self._index.generation == generation - 1:
            self._index.generation = generation  # nothing visual was added
        if audio_index is not None and self._audio_generation == generation - 1:
            audio_index.add(stored.key, sound)
            self._audio_generation = generation
            self._audio_dirty = True
        elif self._audio is not None and self._audio_generation == generation - 1:
            self._audio_generation = generation
        return RegisterResult(path, stored, created=True)

    def _fingerprint(self, path: str, required: bool, budget: Budget = NO_BUDGET):
        """The file's audio fingerprint, or None without usable sound (``_sound``)."""
        sound = self._sound(path, required, budget)
        return None if sound is None else fingerprint(*sound, self.audio)

    def _sound(self, path: str, required: bool, budget: Budget) -> tuple[np.ndarray, int] | None:
        """The file's sound at the audio chain's rate. An unreadable sound track is fatal
        only when there is nothing else to identify the file by (``required``), or when it
        is over the input's limits; otherwise the file goes on without sound (None)."""
        try:
            return decode_audio(path, self.audio.spectrum.rate, budget)
        except MediaError as err:
            if required or isinstance(err, LimitExceeded):
                raise
            return None

    def remove(self, work_id: str) -> Work:
        try:
            work, generation = self.store.remove_work(work_id)
        except StoreError as err:
            raise LibraryError(str(err)) from None
        if self._index is not None and self._index.generation == generation - 1:
            self._index.remove(work.key)
            self._index.generation = generation
            self._index_dirty = True
        if self._audio is not None and self._audio_generation == generation - 1:
            self._audio.remove(work.key)
            self._audio_generation = generation
            self._audio_dirty = True
        return work

    # -- scanning --------------------------------------------------------------------------

    def scan(self, path: str, trace: bool = False, limits: InputLimits | None = None) -> ScanResult:
        """Every segment of every registered work that the file at ``path`` reuses, by
        picture, by sound, or both (see ``fuse``). With ``trace``, ``result.trace`` holds
        what each stage found before the thresholds (``ScanTrace``). An input over ``limits``
        (``media.limits``; default: none) comes back with an error."""
        started = time.perf_counter()
        result = ScanResult(query=path)
        seen = ScanTrace()
        try:
            info = probe(path)
            result.duration = info.duration
            budget = NO_BUDGET
            if limits is not None:
                limits.check(info)
                budget = limits.budget()
            if info.has_video:
                self._scan_video(path, info.duration, seen, budget)
            if info.has_audio:
                self._scan_audio(path, not info.has_video, seen, budget)
            result.matches = self._matches(seen)
        except LIBRARY_FAULTS:
            raise
        except Exception as err:
            result.error = input_error(err)
            result.elapsed = time.perf_counter() - started
            return result
        result.elapsed = time.perf_counter() - started
        if trace:
            result.trace = seen
        return result

    def _matches(self, seen: ScanTrace) -> list[WorkMatch]:
        """The works that pass the thresholds, picture and sound fused, best first."""
        video = {key: decide(segs, self.video.scoring) for key, segs in seen.video.items()}
        audio = {key: [s for s in segs if s.score >= self.audio.threshold] for key, segs in seen.audio.items()}
        matches = []
        for key in set(video) | set(audio):
            if not video.get(key) and not audio.get(key):
                continue
            work = self.store.work_by_key(key)
            if work is None:
                continue
            modality, segments = fuse(video.get(key, []), audio.get(key, []))
            if segments:
                matches.append(WorkMatch(work, modality, max(s.score for s in segments), segments))
        matches.sort(key=lambda m: -m.score)
        return matches

    def _scan_video(self, path: str, duration: float, seen: ScanTrace, budget: Budget = NO_BUDGET) -> None:
        config = self.video
        features = describe_video(path, self.embedder, config, duration, query=True, budget=budget)
        index = self.index()
        penalty = self.background().penalty(features.embeddings)
        for pair in retrieve(index, features, config.retrieval, penalty):
            work = self.store.work_by_key(pair.work_key)
            if work is None:
                continue
            seen.candidates[pair.work_key] = pair
            chains = align(pair, config.alignment)
            seen.video[pair.work_key] = score_chains(chains, config.sample_step, duration, work.duration, config.scoring)

    def _scan_audio(self, path: str, required: bool, seen: ScanTrace, budget: Budget = NO_BUDGET) -> None:
        stored = self.store.audio_version()
        if stored is not None and stored != FINGERPRINT_VERSION:
            if required:
                raise MediaError("the library's audio fingerprints are from another reeltrace version: re-register its works")
            return
        index = self.audio_index()
        if len(index) == 0:
            return
        sound = self._sound(path, required, budget)
        if sound is None:
            return
        for key, segments in audio_match.match(index, fingerprint_query(*sound, self.audio), self.audio).items():
            seen.audio[key] = [s.to_segment() for s in segments]
