"""The library API: register works, scan queries, list and remove works.

A library is one folder::

    library.sqlite        works, audio fingerprints, which file holds what (source of truth, WAL)
    catalogue.json        instead of library.sqlite: the PostgreSQL database and schema that hold
                          it, for a library folder shared by several machines (docs/scale-out.md)
    vectors/ab/*.rtv      each work's stored frame descriptors (storage.vectors), immutable
    index/codec-*.faiss   the trained index codec; index/base-*, delta-*: its segments (video.segments)
    index/audio-N.npz     audio fingerprint index cache for generation N

Everything the CLI and the service do goes through ``Library``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from .audio import match as audio_match
from .audio.config import FINGERPRINT_VERSION, AudioConfig
from .audio.index import AudioIndex, load_audio_index
from .audio.landmarks import fingerprint, fingerprint_query
from .audio.records import AudioQuery
from . import __version__
from . import features as features_files
from .fuse import fuse
from .holds import hold_at
from .media.container import MediaError, file_hash, probe, unexpected
from .media.limits import NO_BUDGET, Budget, InputLimits, LimitExceeded
from .media.sound import decode_audio
from .records import CATEGORIES, MediaInfo, RegisterResult, ScanResult, ScanTrace, Segment, Work, WorkMatch, valid_work_id
from .report.formats import display
from .storage import vectors as vector_files
from .storage.caches import save_cache
from .storage.databases import is_database_url
from .storage.databases import redact as redact_url
from .storage.sqlite import DatabaseUnavailable
from .storage.store import SameContentRegistered, Store, StoreError, VisualEntry
from .storage.store import WorkIdTaken as StoreWorkIdTaken
from .video import codes, milvus, segments
from .video.align import align
from .video.background import Background
from .video.candidates import retrieve
from .video.config import VideoConfig
from .video.embed import DEFAULT_MODEL, FrameEmbedder, describe_video
from .video.index import IndexParams, VisualIndex
from .video.records import StoredFrames, VideoFeatures
from .video.score import decide, score_chains
from .video.shots import merge_static_shots

log = logging.getLogger(__name__)
"""What each stage did, for ``reeltrace -v`` (INFO) and ``-vv`` (DEBUG, per candidate work)."""


def read_sound(path: str, required: bool, budget: Budget, config: AudioConfig) -> tuple[np.ndarray, int] | None:
    """The file's sound at the audio chain's rate. An unreadable sound track is fatal only
    when there is nothing else to identify the file by (``required``), or when it is over
    the input's limits; otherwise the file goes on without sound (None)."""
    try:
        return decode_audio(path, config.spectrum.rate, budget)
    except MediaError as err:
        if required or isinstance(err, LimitExceeded):
            raise
        return None


def audio_fingerprint(path: str, required: bool, budget: Budget, config: AudioConfig):
    """The file's audio fingerprint, or None without usable sound (``read_sound``)."""
    sound = read_sound(path, required, budget, config)
    return None if sound is None else fingerprint(*sound, config)


Progress = Callable[[str, float, float], None]
"""Told how far one input has got: (stream "picture" | "sound", seconds decoded, seconds in
the file). Called from the decoding threads, often: keep it cheap."""


def _budget(limits: InputLimits | None, progress: Progress | None, duration: float) -> Budget:
    budget = NO_BUDGET if limits is None else limits.budget()
    if progress is None:
        return budget
    return replace(budget, on_progress=lambda stream, t: progress(stream, t, duration))


def _described(info: MediaInfo) -> str:
    picture = f"picture {info.width}x{info.height} at {info.fps:.3g} fps" if info.has_video else "no picture"
    return f"{info.duration:.1f} s, {picture}, {'sound' if info.has_audio else 'no sound'}"


def extract_features(path: str, embedder: FrameEmbedder, video: VideoConfig, audio: AudioConfig,
                     limits: InputLimits | None = None, info: MediaInfo | None = None,
                     digest: str | None = None, progress: Progress | None = None) -> features_files.FeaturesFile:  # fmt: skip
    """A file's picture descriptors and audio fingerprint as ``register`` stores them, for a
    features file (``features``); ``info`` and ``digest`` when the caller has them already.
    MediaError for a bad input."""
    if info is None:
        info = probe(path)
        if limits is not None:
            limits.check(info)
    budget = _budget(limits, progress, info.duration)
    digest = digest or file_hash(path)
    features = None
    # The sound is fingerprinted in a second thread while the picture is decoded and
    # embedded: both release the GIL in their heavy parts, and extracting costs the longer
    # of the two rather than their sum.
    with ThreadPoolExecutor(max_workers=1) as pool:
        sound_job = pool.submit(audio_fingerprint, path, not info.has_video, budget, audio) if info.has_audio else None
        if info.has_video:
            features = describe_video(path, embedder, video, info.duration, query=False, budget=budget)
        hold_at("register:extracting")
        sound = sound_job.result() if sound_job is not None else None
    if sound is not None and len(sound) == 0:
        sound = None  # silence: no landmarks to identify it by
    if (features is None or len(features) == 0) and sound is None:
        raise MediaError("no usable frames (blank or uniform picture) and no sound")
    times = np.zeros(0, np.float32) if features is None else features.timestamps.astype(np.float32)
    vectors = np.zeros((0, embedder.dim), np.float32) if features is None else features.embeddings
    meta = {
        "model": embedder.model,
        "dim": embedder.dim,
        "sample_fps": video.sample_fps,
        "content_hash": digest,
        "duration": float(info.duration),
        "fingerprint_version": FINGERPRINT_VERSION,
        "title": os.path.basename(path),
        "source_path": os.path.abspath(path),
        "reeltrace": __version__,
    }
    return features_files.FeaturesFile(times, vectors, sound, meta)


@dataclass
class DescribedQuery:
    """A query file as a scan reads it, read elsewhere (``cluster``: a Ray task) and matched
    by ``Library.scan(path, described=...)``: its ``MediaInfo``, its picture's descriptors
    (None without a picture, or when reading it failed: ``picture_error``) and its sound's
    query fingerprint (None without usable sound or when not asked for; ``sound_error`` when
    reading it failed). The errors are kept apart so that the scan reports the one a local
    scan would: the picture's first, the sound's only where the library has sound to match."""

    info: MediaInfo
    picture: VideoFeatures | None = None
    sound: AudioQuery | None = None
    picture_error: str | None = None
    sound_error: str | None = None


def describe_query(path: str, embedder: FrameEmbedder, video: VideoConfig, audio: AudioConfig,
                   sound: bool = True) -> DescribedQuery:  # fmt: skip
    """What ``Library.scan`` reads from the file at ``path`` before it looks anything up
    (its sound only with ``sound``: a library without sound never decodes a query's).
    MediaError when the file cannot be probed; later errors come back in the result."""
    info = probe(path)
    described = DescribedQuery(info)
    if info.has_video:
        try:
            described.picture = describe_video(path, embedder, video, info.duration, query=True)
        except Exception as err:
            described.picture_error = input_error(err)
    if sound and info.has_audio:
        try:
            samples = read_sound(path, not info.has_video, NO_BUDGET, audio)
            described.sound = None if samples is None else fingerprint_query(*samples, audio)
        except Exception as err:
            described.sound_error = input_error(err)
    return described


STORE_FILE = "library.sqlite"  # a library folder is a library when it holds this (``Library.exists``)
CATALOGUE_FILE = "catalogue.json"  # or this: where on PostgreSQL its catalogue is


@dataclass(frozen=True)
class Catalogue:
    """Where a library's catalogue (``storage.store``) is: its SQLite file, or a schema of a
    PostgreSQL database, named by the folder's ``catalogue.json`` so that every machine that
    mounts the folder opens the same one."""

    location: str  # a file path, or a postgresql:// URL
    namespace: str | None = None  # the PostgreSQL schema holding its tables

    @staticmethod
    def of(folder: str, asked: str | None = None) -> Catalogue:
        """The catalogue of ``folder``. ``asked``: a ``postgresql://`` URL for a new library
        (``init --catalogue``); refused once the folder has a catalogue elsewhere, since
        moving one between databases is not built."""
        named = os.path.join(folder, CATALOGUE_FILE)
        if os.path.isfile(named):
            if os.path.isfile(os.path.join(folder, STORE_FILE)):
                raise LibraryError(f"{display(folder)} holds both {STORE_FILE} and {CATALOGUE_FILE}: a library has "
                                   "one catalogue; move the one that is not this library's away")  # fmt: skip
            found = Catalogue.read(named)
            if asked is not None and asked != found.location:
                raise LibraryError(f"this library's catalogue is on {redact_url(found.location)} already; "
                                   "it cannot move to another database")  # fmt: skip
            return found
        if asked is None:
            return Catalogue(os.path.join(folder, STORE_FILE))
        if not is_database_url(asked):
            raise LibraryError("--catalogue: give a PostgreSQL URL, postgresql://USER@HOST:PORT/DATABASE")
        if os.path.isfile(os.path.join(folder, STORE_FILE)):
            raise LibraryError(f"this library's catalogue is {STORE_FILE} already; give --catalogue when a "
                               "library is made, in a new folder")  # fmt: skip
        return Catalogue(asked, "library_" + secrets.token_hex(6))

    @staticmethod
    def read(named: str) -> Catalogue:
        try:
            with open(named, encoding="utf-8") as fh:
                data = json.load(fh)
        except PermissionError:
            raise LibraryError(f"{display(named)} cannot be read by this user (it is the owner's alone: it "
                               "may hold the database's password)") from None  # fmt: skip
        except (OSError, ValueError) as err:
            raise LibraryError(f"{display(named)} is damaged: {err}") from None
        url = data.get("url") if isinstance(data, dict) else None
        schema = data.get("schema") if isinstance(data, dict) else None
        if not isinstance(url, str) or not is_database_url(url) or not isinstance(schema, str) \
                or not re.fullmatch(r"library_[0-9a-f]{12}", schema):  # fmt: skip
            raise LibraryError(f"{display(named)} is damaged: it names no PostgreSQL URL and library schema")
        return Catalogue(url, schema)

    def name(self, folder: str) -> Catalogue:
        """Write ``catalogue.json`` (0600: the URL may hold a password), once its database has
        been opened: a wrong URL leaves the folder as it was. Published with a link, which
        fails where the file exists: of two processes making one library at once, both go on
        with the catalogue the first named (the other's schema stays empty). Returns the
        catalogue named."""
        if self.namespace is None:
            return self
        named = os.path.join(folder, CATALOGUE_FILE)
        if os.path.isfile(named):
            return Catalogue.read(named)
        text = json.dumps({"url": self.location, "schema": self.namespace}, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".reeltrace-", suffix=".tmp")  # 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, named)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return Catalogue.read(named)

    def text(self) -> str:
        if self.namespace is None:
            return display(self.location)
        return f"{redact_url(self.location)} (schema {self.namespace})"


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class LibraryError(Exception):
    """A request the library refuses (unknown work, bad id or category)."""


class WorkIdTaken(LibraryError):
    """The id asked for is held by another work."""


LIBRARY_FAULTS = (LibraryError, StoreError, sqlite3.Error, DatabaseUnavailable)
"""Exceptions about the library itself (refused request, locked, incompatible or damaged
database): they stop a command. Any other exception raised while one input is registered or
scanned is that input's error (``input_error``), and the rest of a batch goes on."""


def input_error(err: Exception) -> str:
    """The one-line error of an input that raised ``err``."""
    return str(err) if isinstance(err, MediaError) else str(unexpected(err, "cannot be processed"))


def _check_category(category: str | None) -> None:
    if category is not None and category not in CATEGORIES:
        raise LibraryError(f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")


class Library:
    """One library folder. Not thread-safe; open one per process or thread."""

    @staticmethod
    def exists(folder: str) -> bool:
        """Whether ``folder`` holds a library (``Library(folder)`` creates one where not)."""
        return any(os.path.isfile(os.path.join(folder, name)) for name in (STORE_FILE, CATALOGUE_FILE))

    def __init__(
        self,
        folder: str,
        model: str | None = None,
        video: VideoConfig | None = None,
        audio: AudioConfig | None = None,
        index: IndexParams | None = None,
        catalogue: str | None = None,
    ):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.catalogue = Catalogue.of(folder, catalogue)
        self.store = Store(self.catalogue.location, self.catalogue.namespace)
        named = self.catalogue.name(folder)
        if named != self.catalogue:  # another process named the folder's catalogue first
            self.store.close()
            self.catalogue, self.store = named, Store(named.location, named.namespace)
        stored = self.store.model()
        if model is not None and stored is not None and stored != model:
            raise LibraryError(f"library was built with model {stored!r}, not {model!r}")
        self.model = stored or model or DEFAULT_MODEL
        self.video = video or VideoConfig()
        self.audio = audio or AudioConfig()
        self.index_params = index or IndexParams()
        self._embedder: FrameEmbedder | None = None
        self._index: VisualIndex | None = None
        self.vectors = milvus.parse(self.store.database.meta(milvus.META_KEY))  # where the index's vectors are
        self._milvus: milvus.MilvusVectors | None = None
        self._background: Background | None = None
        self._audio: AudioIndex | None = None
        self._audio_generation = -1
        self._audio_dirty = False
        self._migrate()

    def _migrate(self) -> None:
        """Move a schema-2 library's float16 descriptors (in SQLite) to descriptor files.
        Files first, the database last, in one transaction: a kill part-way leaves the old
        table in place and the next open starts again (orphan files are collected)."""
        entries = {}
        for key, model, fps, _, times, vectors in self.store.legacy_visual_rows():
            work = self.store.work_by_key(key)
            if work is None:
                continue
            entries[key] = replace(self._write_frames(work.content_hash, times, vectors, fps), model=model)
        if entries or self.store.has_legacy_table():
            self.store.finish_legacy_migration(entries)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._audio is not None and self._audio_dirty:
            audio = self._audio

            def write(tmp: str) -> None:
                with open(tmp, "wb") as fh:
                    fh.write(audio.to_bytes())

            save_cache(self._index_folder, "audio", ".npz", self._audio_generation, write)
            self._audio_dirty = False
        if self._milvus is not None:
            self._milvus.close()
            self._milvus = None
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
        """The vector index, current with the database (opening it costs what changed)."""
        version = self.store.visual_version()
        if self._index is not None and self._index.generation != version:
            self._follow_vectors()
        if self._index is None:
            self._index = VisualIndex(self.folder, self.embedder.dim, self.index_params, open_remote=self._open_remote)
        if self._index.generation != version:
            self._index.refresh(self.store.visual_state())
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
        category: str | None = None,
        work_id: str | None = None,
        limits: InputLimits | None = None,
        progress: Progress | None = None,
    ) -> RegisterResult:
        """Register one file as a work. Errors in the input come back in the result, among
        them an input over ``limits`` (``media.limits``; default: none). Without a
        ``category``, a work with a picture is ``film`` and one with sound alone ``audio``.
        ``progress`` is told how far decoding has got (``Progress``)."""
        _check_category(category)
        if work_id is not None and not valid_work_id(work_id):
            raise LibraryError("work id must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        digest = None
        from_features = features_files.is_features_file(path)
        try:
            if from_features:
                loaded = features_files.read(path, self.model, self.embedder.dim, self.video.sample_fps,
                                             FINGERPRINT_VERSION)  # fmt: skip
                if limits is not None:
                    limits.check_duration(loaded.duration)
                digest = loaded.content_hash
            else:
                info = probe(path)
                if limits is not None:
                    limits.check(info)
                digest = file_hash(path)
            existing = self.store.work_by_hash(digest)
            if existing is not None:
                return RegisterResult(path, existing, created=False)
            if not from_features:
                log.info("%s: %s", os.path.basename(path), _described(info))
                began = time.perf_counter()
                loaded = extract_features(path, self.embedder, self.video, self.audio, limits, info, digest, progress)
                log.info("%s: %d frame descriptors, %d sound landmarks in %.1f s", os.path.basename(path),
                         len(loaded.timestamps), len(loaded.audio) if loaded.audio is not None else 0,
                         time.perf_counter() - began)  # fmt: skip
            work, video = self._new_work(path, loaded, title, owner, category, work_id)
            audio_index = self.audio_index() if loaded.audio is not None else None
            hold_at("register:before-write")
            stored, generation = self._store_work(work, video, loaded.audio)
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
        self._after_register(stored, generation, loaded.audio, audio_index)
        return RegisterResult(path, stored, created=True)

    def _new_work(self, path: str, loaded: features_files.FeaturesFile, title: str | None, owner: str,
                  category: str | None, work_id: str | None) -> tuple[Work, VideoFeatures | None]:  # fmt: skip
        video = None
        duration = loaded.duration
        if len(loaded.timestamps):
            video = VideoFeatures(loaded.timestamps.astype(np.float64), loaded.descriptors,
                                  np.full(len(loaded.timestamps), 2, np.int8), duration, self.video.sample_fps)  # fmt: skip
            duration = max(duration, float(loaded.timestamps[-1]) + self.video.sample_step)
        name = loaded.meta.get("title") or os.path.basename(path)
        work = Work(
            work_id=work_id or "w" + loaded.content_hash[:10],
            title=title if title else " ".join(os.path.splitext(name)[0].split()),
            owner=owner,
            category=category or ("film" if video is not None else "audio"),
            duration=duration,
            content_hash=loaded.content_hash,
            source_path=loaded.meta.get("source_path") or "",
            registered_at="",
            has_video=video is not None,
            has_audio=loaded.audio is not None,
        )
        return work, video

    def _store_work(self, work: Work, features: VideoFeatures | None, sound) -> tuple[Work, int]:
        """Write the work's descriptor file, then the work (one transaction); the file goes
        again if the transaction does not commit."""
        entry = None
        if features is not None:
            entry = self._write_frames(work.content_hash, features.timestamps, features.embeddings, features.sample_fps)
        try:
            return self.store.add_work(work, entry, sound)
        except BaseException:
            if entry is not None:
                _unlink(os.path.join(self.folder, entry.file))
            raise

    def _write_frames(self, content_hash: str, times: np.ndarray, vectors: np.ndarray, sample_fps: float) -> VisualEntry:
        starts = merge_static_shots(times, vectors, self.video.shots)
        frames = StoredFrames(np.asarray(times, np.float32), starts, codes.encode(vectors[starts[:-1]]), codes.CODE_NAME)
        file = vector_files.new_name(content_hash)
        checksum = vector_files.write(os.path.join(self.folder, file), frames)
        return VisualEntry(self.model, sample_fps, vectors.shape[1], len(times), len(frames), codes.CODE_NAME, file,
                           checksum)  # fmt: skip

    def _after_register(self, stored: Work, generation: int, sound, audio_index: AudioIndex | None) -> None:
        hold_at("register:after-commit")
        # Keep the in-memory audio index current when nobody else changed the library
        # meanwhile; otherwise the next use rebuilds it from the database.
        if audio_index is not None and self._audio_generation == generation - 1:
            audio_index.add(stored.key, sound)
            self._audio_generation = generation
            self._audio_dirty = True
        elif self._audio is not None and self._audio_generation == generation - 1:
            self._audio_generation = generation
        if stored.has_video and self._follow_vectors().remote:
            self._fold_remote()
        elif stored.has_video and self.store.flat_vectors() > self.index_params.flat_limit:
            segments.fold(self.folder, self.store, self.index_params)

    def index_advice(self) -> str | None:
        """A line for the user when the index wants ``reeltrace index rebuild``, else None."""
        info = segments.status(self.store, self.index_params)
        if self.vectors.remote and info["exact_vectors"]:
            return (f"{info['exact_vectors']:,} vectors are not on {self.vectors.text} yet (searched exactly meanwhile):"
                    " run 'reeltrace index rebuild'")  # fmt: skip
        if info["rebuild_advised"]:
            return (f"the index was trained for {info['codec_trained_for']:,} vectors and now holds {info['vectors']:,}:"
                    " run 'reeltrace index rebuild' (scans slow down until then)")  # fmt: skip
        return None

    def rebuild_index(self, progress: segments.Progress | None = None,
                      checkpoint: int = segments.CHECKPOINT) -> segments.RebuildResult:  # fmt: skip
        """Retrain the index codec on the whole catalogue and rebuild its segments,
        checkpointing every ``checkpoint`` vectors (resumable; see ``video.segments``).
        On Milvus (``set_vectors``): every work's vectors put in its collection again, and
        any the database does not hold deleted (``video.milvus.rebuild``)."""
        if self._follow_vectors().remote:
            return milvus.rebuild(self.folder, self.store, self._vectors_on(), progress or segments.quiet,
                                  lambda: segments.collect_garbage(self.folder, self.store))  # fmt: skip
        return segments.rebuild(self.folder, self.store, progress or segments.quiet, checkpoint, self.index_params)

    def index_status(self) -> dict:
        info = segments.status(self.store, self.index_params)
        if self._follow_vectors().remote:
            info.update(milvus.status(self.store, self._vectors_on()))
        return info

    # -- where the vectors are (video.milvus) ----------------------------------------------

    def _follow_vectors(self) -> milvus.VectorsConfig:
        """The library's vectors configuration, re-read: another process may have changed it."""
        current = milvus.parse(self.store.database.meta(milvus.META_KEY))
        if current != self.vectors:
            if self._milvus is not None:
                self._milvus.close()
                self._milvus = None
            self._index = None
            self.vectors = current
        return current

    def _vectors_on(self) -> milvus.MilvusVectors:
        """The library's Milvus collection (its client opened on first use)."""
        if self._milvus is None:
            self._milvus = milvus.MilvusVectors(self.vectors, self.folder, self.store.database.meta("library_id") or "",
                                                self.index_params)  # fmt: skip
        return self._milvus

    def _open_remote(self, segment):
        if segment.kind != milvus.SEGMENT_KIND or not self.vectors.remote:
            raise LibraryError(f"the index holds a {segment.kind} segment but the library keeps its vectors on "
                               f"{self.vectors.text}: run 'reeltrace init --vectors URI' again")  # fmt: skip
        return milvus.MilvusSegment(self._vectors_on(), segment)

    def _fold_remote(self) -> None:
        """Put the works not yet on Milvus there; a work whose vectors cannot go now stays
        registered and searched exactly until a later register or 'index rebuild' moves it."""
        try:
            milvus.fold(self.folder, self.store, self._vectors_on())
        except milvus.VectorsUnavailable as err:
            log.warning("%s: the work is registered and searched exactly until its vectors reach Milvus "
                        "(at the next register, or 'reeltrace index rebuild')", err)  # fmt: skip

    def set_vectors(self, text: str, progress: segments.Progress | None = None) -> milvus.VectorsConfig:
        """Keep the index's vectors where ``text`` says (``video.milvus.parse``: ``faiss``,
        ``milvus-lite[:FILE.db]``, ``milvus://HOST:PORT/COLLECTION``), and move those of the
        works registered there. To Milvus: every work's vectors are upserted first, then one
        transaction drops the old index, names the new place and puts the works in it (a kill
        before it leaves the library as it was; the upserts are repeated by the next try).
        Back to FAISS: one transaction drops the Milvus segment (the works are searched
        exactly) and a rebuild follows when there are more than ``flat_limit`` vectors."""
        try:
            new = milvus.parse(text)
        except StoreError as err:
            raise LibraryError(str(err)) from None
        progress = progress or segments.quiet
        old = self._follow_vectors()
        if new.remote and self.store.database.meta("library_id") is None:
            with self.store.database.transaction():
                if self.store.database.meta("library_id") is None:
                    self.store.database.set_meta("library_id", secrets.token_hex(8))
        if new.remote:  # reachable, its collection made or found this library's, before anything changes
            claim = milvus.MilvusVectors(new, self.folder, self.store.database.meta("library_id"), self.index_params)
            try:
                claim.prepare(self.embedder.dim)
            finally:
                claim.close()
        if new == old:
            if new.remote:  # the same place: whatever is not there yet goes
                milvus.fold(self.folder, self.store, self._vectors_on(), progress)
            return new
        retired: list[str] = []

        def leave(change) -> None:  # the old index out, the new place named: one transaction
            state = change.state()
            for seg in state.segments:
                change.drop_segment(seg.id)
                if seg.kind != milvus.SEGMENT_KIND:
                    retired.append(seg.file)
            retired.extend(f for f in (state.codec, change.meta("rebuild_codec")) if f)
            for key in ("index_codec", "index_trained_on", "index_trained_for", *segments.REBUILD_KEYS):
                change.set_meta(key, None)
            change.set_meta(milvus.META_KEY, new.text if new.remote else None)

        leaving = self._vectors_on() if old.remote else None
        if new.remote:
            # Every work's vectors go to Milvus before the database names it; the old index
            # serves until the transaction that moves them all (a kill before it changes nothing).
            target = milvus.MilvusVectors(new, self.folder, self.store.database.meta("library_id"), self.index_params)
            try:
                milvus.fold(self.folder, self.store, target, progress, everything=True, switch=leave)
                shared = leaving is not None and leaving.place == target.place
            finally:
                target.close()
        else:
            with self.store.index_change() as change:
                leave(change)
            shared = False
        for name in retired:
            _unlink(os.path.join(self.folder, name))
        if leaving is not None and not shared:
            try:
                leaving.drop()  # the database names none of its vectors any more
            except milvus.VectorsUnavailable as err:
                log.warning("%s: the old collection stays", err)
        self._follow_vectors()
        if new.remote:  # works registered while the others moved; what a killed move left
            milvus.fold(self.folder, self.store, self._vectors_on(), progress)
            milvus.reconcile(self.store, self._vectors_on(), grace_s=0.0)
        elif self.store.flat_vectors() > self.index_params.flat_limit:
            # Searched exactly until the rebuild ends: move a large library back with nothing scanning.
            segments.rebuild(self.folder, self.store, progress, segments.CHECKPOINT, self.index_params)
        return new

    def edit(self, work_id: str, title: str | None = None, owner: str | None = None, category: str | None = None) -> Work:
        """A work with its title, owner or category changed (None: kept); the rest of the
        work, its fingerprints and the index stay as they are."""
        _check_category(category)
        if title is not None and not title.strip():
            raise LibraryError("a title cannot be empty")
        changes = {k: v for k, v in (("title", title), ("owner", owner), ("category", category)) if v is not None}
        try:
            return self.store.edit_work(work_id, changes)
        except StoreError as err:
            raise LibraryError(str(err)) from None

    def remove(self, work_id: str) -> Work:
        # On Milvus the removal commits first and the vectors go after it, under an intent
        # recorded before both: a crash between leaves vectors no search keeps (the
        # database no longer places the work in the collection), deleted by the next
        # register, remove or index rebuild (video.milvus.reconcile).
        remote = self._vectors_on() if self._follow_vectors().remote else None
        intent = None
        if remote is not None:
            listed = self.store.work(work_id)
            intent = milvus.intend(self.store, [listed.key]) if listed is not None else None
        try:
            work, file, generation = self.store.remove_work(work_id)
        except StoreError as err:
            if intent is not None:
                milvus.done(self.store, intent)
            raise LibraryError(str(err)) from None
        if file is not None:
            _unlink(os.path.join(self.folder, file))  # the database no longer names it
        if remote is not None and intent is not None:
            try:
                milvus.forget_removed(self.store, remote, [work.key], intent)
                milvus.reconcile(self.store, remote)
            except milvus.VectorsUnavailable as err:
                log.warning("%s: the work is removed; its vectors on Milvus are never matched and are deleted at "
                            "the next register, remove or 'reeltrace index rebuild'", err)  # fmt: skip
        if self._audio is not None and self._audio_generation == generation - 1:
            self._audio.remove(work.key)
            self._audio_generation = generation
            self._audio_dirty = True
        return work

    # -- scanning --------------------------------------------------------------------------

    def scan(self, path: str, trace: bool = False, limits: InputLimits | None = None,
             progress: Progress | None = None, picture: VideoFeatures | None = None,
             described: DescribedQuery | None = None) -> ScanResult:  # fmt: skip
        """Every segment of every registered work that the file at ``path`` reuses, by
        picture, by sound, or both (see ``fuse``). With ``trace``, ``result.trace`` holds
        what each stage found before the thresholds (``ScanTrace``). An input over ``limits``
        (``media.limits``; default: none) comes back with an error. ``progress`` is told how
        far decoding has got (``Progress``). With ``picture``, those are the query's picture
        descriptors (times from the start of ``path``'s picture) and only its sound is
        decoded: a live window's, described chunk by chunk as they came
        (``video.embed.StreamDescriber``). With ``described``, the file was read elsewhere
        (``describe_query``, on a Ray worker) and only the lookups run here."""
        started = time.perf_counter()
        result = ScanResult(query=path)
        seen = ScanTrace()
        try:
            info = probe(path) if described is None else described.info
            result.duration = info.duration
            log.info("%s: %s", os.path.basename(path), _described(info))
            if limits is not None:
                limits.check(info)
            budget = _budget(limits, progress, info.duration)
            audio_index = self._audio_to_search(required=not info.has_video) if info.has_audio else None
            # As at register, the sound is decoded, fingerprinted and matched in a second
            # thread while the picture is decoded, embedded and looked up (BENCHMARKS.md: a
            # 60 s scan 0.4 s shorter).
            with ThreadPoolExecutor(max_workers=1) as pool:
                sound_job = None
                if audio_index is not None:
                    sound_job = pool.submit(self._match_sound, audio_index, path, not info.has_video, budget, described)
                if info.has_video:
                    if picture is None and described is not None:
                        if described.picture_error is not None:
                            raise MediaError(described.picture_error)
                        picture = described.picture
                    if picture is None:
                        picture = self._describe_query(path, info.duration, budget)
                    self._match_picture(path, picture, info.duration, seen)
                if sound_job is not None:
                    seen.audio.update(sound_job.result())
            result.matches = self._matches(seen)
        except LIBRARY_FAULTS:
            raise
        except Exception as err:
            result.error = input_error(err)
            result.elapsed = time.perf_counter() - started
            log.info("%s: failed: %s", os.path.basename(path), result.error)
            return result
        result.elapsed = time.perf_counter() - started
        log.info("%s: decided in %.1f s: %s", os.path.basename(path), result.elapsed,
                 "; ".join(f"{m.work.work_id} ({m.modality}, {len(m.segments)} segment(s), score {m.score:.3f})"
                           for m in result.matches) or "no registered work passes the thresholds")  # fmt: skip
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
            segments = [self._name_shared(s) for s in segments]
            if segments:
                matches.append(WorkMatch(work, modality, max(s.score for s in segments), segments))
        matches.sort(key=lambda m: -m.score)
        return matches

    def _name_shared(self, segment: Segment) -> Segment:
        """The segment with the work id of the other work that holds the same recording on
        its stretch (``audio.match._explain_away``), where there is one."""
        other = segment.audio.shared_with if segment.audio is not None else -1
        work = self.store.work_by_key(other) if other >= 0 else None
        return replace(segment, shares_audio_with=work.work_id) if work is not None else segment

    def _describe_query(self, path: str, duration: float, budget: Budget = NO_BUDGET) -> VideoFeatures:
        began = time.perf_counter()
        features = describe_video(path, self.embedder, self.video, duration, query=True, budget=budget)
        if log.isEnabledFor(logging.INFO):  # counting the instants is work a quiet scan need not do
            log.info("%s: picture: %d views of %d sampled frames embedded in %.1f s", os.path.basename(path),
                     len(features), len(np.unique(features.timestamps)), time.perf_counter() - began)  # fmt: skip
        return features

    def _match_picture(self, path: str, features: VideoFeatures, duration: float, seen: ScanTrace) -> None:
        config = self.video
        index = self.index()
        penalty = self.background().penalty(features.embeddings)
        pairs = retrieve(index, features, config.retrieval, penalty)
        log.info("%s: picture: the index proposes %d candidate work(s)", os.path.basename(path), len(pairs))
        for pair in pairs:
            work = self.store.work_by_key(pair.work_key)
            if work is None:
                continue
            seen.candidates[pair.work_key] = pair
            chains = align(pair, config.alignment)
            seen.video[pair.work_key] = score_chains(chains, config.sample_step, duration, work.duration, config.scoring)
            log.debug("picture: %s: %d frame matches, %d aligned chain(s), best %.3f", work.work_id, len(pair.scores),
                      len(chains), max((sg.score for sg in seen.video[pair.work_key]), default=0.0))  # fmt: skip

    def _audio_to_search(self, required: bool) -> AudioIndex | None:
        """The audio index a scan searches, or None when no registered work has sound.
        Fingerprints of another version cannot be compared: an error where the sound is all
        the input has, otherwise the picture alone decides."""
        stored = self.store.audio_version()
        if stored is not None and stored != FINGERPRINT_VERSION:
            if required:
                raise MediaError("the library's audio fingerprints are from another reeltrace version: re-register its works")
            return None
        index = self.audio_index()
        return index if len(index) else None

    def _match_sound(self, index: AudioIndex, path: str, required: bool, budget: Budget,
                     described: DescribedQuery | None = None) -> dict:  # fmt: skip
        """The audio segments per work key of the query's sound (none without usable sound,
        ``read_sound``), under every speed and tempo hypothesis; ``described``: the sound
        was fingerprinted elsewhere (``describe_query``)."""
        began = time.perf_counter()
        if described is not None:
            if described.sound_error is not None:
                raise MediaError(described.sound_error)
            query = described.sound
        else:
            sound = read_sound(path, required, budget, self.audio)
            query = None if sound is None else fingerprint_query(*sound, self.audio)
        if query is None:
            log.info("%s: sound: none usable (silent or unreadable)", os.path.basename(path))
            return {}
        found = audio_match.match(index, query, self.audio)
        log.info("%s: sound: %d landmarks fingerprinted and matched in %.1f s; %d work(s) with aligned landmarks",
                 os.path.basename(path), len(query.passes[0]) if query.passes else 0, time.perf_counter() - began,
                 len(found))  # fmt: skip
        for key, found_segments in found.items():
            log.debug("sound: work key %d: %d segment(s), best %.3f", key, len(found_segments),
                      max((sg.score for sg in found_segments), default=0.0))  # fmt: skip
        return {key: [s.to_segment() for s in found_segments] for key, found_segments in found.items()}
