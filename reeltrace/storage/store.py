"""Metadata store: the library's catalogue, one SQLite database (WAL) in the library folder,
or a schema of a PostgreSQL database when the library is shared by several machines
(``library.Catalogue``; the statements are the same, ``storage.postgres`` bridges them).

The database is the source of truth. A work's row, the name and checksum of its descriptor
file (``vectors``, written and flushed before) and its audio fingerprint are written in one
transaction, so a register either happened completely or not at all, even when the
process is killed half-way. The database also says which index segment holds each work's
vectors (``visual_vectors.segment``; NULL: not yet in one, searched exactly), and which
codec and segment files make the index (``index_segments``, meta ``index_codec``):
replacing them is one transaction too, so a reader sees the old index or the new one.
``generation`` is bumped by every change to the catalogue.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ..audio.config import FINGERPRINT_VERSION
from ..audio.records import AudioFingerprint
from ..holds import hold_at
from ..records import Work
from .databases import open_database

CATALOGUE_POOL = {"pool_size": 2, "keep": 0, "idle_s": 30.0}
"""PostgreSQL connections of one Store: at most 2, none kept once 30 s idle. The service opens
a Library (so a Store) on each thread that reads the catalogue, and the server's threads come
and go: each keeping a connection would use up the server's (100 by default)."""
SCHEMA_VERSION = 3  # 2: audio_features; 3: descriptors in files (visual_vectors), index segments

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS works (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    work_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    owner TEXT NOT NULL,
    category TEXT NOT NULL,
    duration REAL NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    source_path TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    has_video INTEGER NOT NULL,
    has_audio INTEGER NOT NULL,
    frames INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS index_segments (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,         -- 'base' (built by a rebuild) or 'delta' (works added since)
    file TEXT NOT NULL,
    codec TEXT NOT NULL,
    vectors INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS visual_vectors (
    work_key INTEGER PRIMARY KEY REFERENCES works(key) ON DELETE CASCADE,
    model TEXT NOT NULL,
    sample_fps REAL NOT NULL,
    dim INTEGER NOT NULL,
    frames INTEGER NOT NULL,    -- sampled frames
    vectors INTEGER NOT NULL,   -- stored descriptors (one per run of near-identical frames)
    code TEXT NOT NULL,         -- video.codes.CODE_NAME
    file TEXT NOT NULL,         -- relative to the library folder
    checksum TEXT NOT NULL,     -- SHA-256 of the file
    segment TEXT REFERENCES index_segments(id)
);
CREATE TABLE IF NOT EXISTS audio_features (
    work_key INTEGER PRIMARY KEY REFERENCES works(key) ON DELETE CASCADE,
    hashes BLOB NOT NULL,       -- uint32 landmark hashes
    times BLOB NOT NULL,        -- float32 anchor seconds
    duration REAL NOT NULL
);
-- Spectral-shape codes (audio.codes), since stop 30: a work registered before has no row,
-- and an older reeltrace opening this library does not read the table.
CREATE TABLE IF NOT EXISTS audio_codes (
    work_key INTEGER PRIMARY KEY REFERENCES works(key) ON DELETE CASCADE,
    codes BLOB NOT NULL         -- uint32, one per 64 ms
);
"""


@dataclass(frozen=True)
class VisualEntry:
    """A work's descriptor file as the database names it (``storage.vectors``)."""

    model: str
    sample_fps: float
    dim: int
    frames: int
    vectors: int
    code: str
    file: str  # relative to the library folder
    checksum: str
    key: int = 0
    segment: str | None = None  # the index segment holding its vectors; None: searched exactly


@dataclass(frozen=True)
class IndexSegment:
    id: str
    kind: str  # "base" or "delta"
    file: str
    codec: str
    vectors: int


@dataclass(frozen=True)
class VisualState:
    """The picture side of the catalogue at one generation: what ``index`` opens."""

    version: tuple[int, int]  # (catalogue generation, index version): see Store.visual_version
    entries: list[VisualEntry]
    segments: list[IndexSegment]
    codec: str | None


class StoreError(Exception):
    """A library problem the user must act on (bad id, incompatible library)."""


class SameContentRegistered(StoreError):
    """The content (by its hash) is registered already."""


class WorkIdTaken(StoreError):
    """Another work holds the id."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_version(db) -> None:
    version = db.meta("schema_version")
    if version is None:
        db.set_meta("schema_version", str(SCHEMA_VERSION))
        db.set_meta("generation", "0")
    elif int(version) > SCHEMA_VERSION:
        raise StoreError(f"library was written by a newer reeltrace (schema {version})")
    elif int(version) < SCHEMA_VERSION:
        # 2 -> 3 adds tables; the float16 descriptors of visual_features move to files when
        # the library opens (Library._migrate), which drops that table last.
        db.set_meta("schema_version", str(SCHEMA_VERSION))


def _work(row) -> Work:
    return Work(
        work_id=row["work_id"],
        title=row["title"],
        owner=row["owner"],
        category=row["category"],
        duration=row["duration"],
        content_hash=row["content_hash"],
        source_path=row["source_path"],
        registered_at=row["registered_at"],
        has_video=bool(row["has_video"]),
        has_audio=bool(row["has_audio"]),
        frames=row["frames"],
        key=row["key"],
    )


class Store:
    """Works and their descriptors. Safe to use from several processes at once (and, on
    PostgreSQL, from several machines). ``location``: an SQLite file, or a ``postgresql://``
    URL with the ``namespace`` (schema) that holds this library's tables. Every write
    transaction holds the whole catalogue, on either."""

    def __init__(self, location: str, namespace: str | None = None):
        self.database = open_database(
            location, _SCHEMA, on_open=_check_version, namespace=namespace, serial=True, pool=CATALOGUE_POOL,
            locked=lambda: StoreError("library is locked by another process"),
        )  # fmt: skip
        self.path = self.database.path

    def close(self) -> None:
        self.database.close()

    def _bump_generation(self) -> int:
        generation = int(self.database.meta("generation") or 0) + 1
        self.database.set_meta("generation", str(generation))
        return generation

    def generation(self) -> int:
        return int(self.database.meta("generation") or 0)

    def _visual_version(self) -> tuple[int, int]:
        return self.generation(), int(self.database.meta("index_version") or 0)

    def visual_version(self) -> tuple[int, int]:
        """Changes whenever what the visual index must hold changes: the catalogue's
        generation, and a counter of index changes (folds, rebuilds), which leave the
        catalogue, and so the audio caches, as they are."""
        with self.database.snapshot():
            return self._visual_version()

    def audio_version(self) -> int | None:
        """The fingerprint version of the audio works stored (None while there are none)."""
        if self.database.execute("SELECT 1 FROM audio_features LIMIT 1").fetchone() is None:
            return None
        value = self.database.meta("audio_version")
        return int(value) if value else 1

    def model(self) -> str | None:
        """The descriptor model this library was built with (None while empty)."""
        return self.database.meta("model")

    # -- works ---------------------------------------------------------------------------

    def works(self) -> list[Work]:
        rows = self.database.execute("SELECT * FROM works ORDER BY key").fetchall()
        return [_work(r) for r in rows]

    def work(self, work_id: str) -> Work | None:
        row = self.database.execute("SELECT * FROM works WHERE work_id=?", (work_id,)).fetchone()
        return _work(row) if row else None

    def work_by_key(self, key: int) -> Work | None:
        row = self.database.execute("SELECT * FROM works WHERE key=?", (key,)).fetchone()
        return _work(row) if row else None

    def work_by_hash(self, content_hash: str) -> Work | None:
        row = self.database.execute("SELECT * FROM works WHERE content_hash=?", (content_hash,)).fetchone()
        return _work(row) if row else None

    def add_work(
        self,
        work: Work,
        visual: VisualEntry | None,
        audio: AudioFingerprint | None = None,
    ) -> tuple[Work, int]:
        """Insert a work with its descriptor file's entry (``visual``, written already) and/or
        audio fingerprint, in one transaction; returns it (with its key) and the new generation."""
        with self.database.transaction() as db:
            library_model = self.database.meta("model")
            if visual is not None and library_model is None:
                self.database.set_meta("model", visual.model)
            elif visual is not None and library_model != visual.model:
                raise StoreError(f"library uses model {library_model!r}, not {visual.model!r}")
            if self.work_by_hash(work.content_hash) is not None:
                raise SameContentRegistered("same content already registered")
            if self.work(work.work_id) is not None:
                raise WorkIdTaken(f"work id {work.work_id!r} is already taken")
            key = self.database.insert(
                db,
                "INSERT INTO works(work_id, title, owner, category, duration, content_hash, source_path,"
                " registered_at, has_video, has_audio, frames) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                (
                    work.work_id,
                    work.title,
                    work.owner,
                    work.category,
                    work.duration,
                    work.content_hash,
                    work.source_path,
                    work.registered_at or _now(),
                    int(work.has_video),
                    int(work.has_audio),
                    0 if visual is None else visual.frames,
                ),
                key="key",
            )
            if audio is not None:
                self.database.set_meta("audio_version", str(FINGERPRINT_VERSION))
                db.execute(
                    "INSERT INTO audio_features(work_key, hashes, times, duration) VALUES(?,?,?,?)",
                    (
                        key,
                        np.ascontiguousarray(audio.hashes, np.uint32).tobytes(),
                        np.ascontiguousarray(audio.times, np.float32).tobytes(),
                        audio.duration,
                    ),
                )
                if len(audio.codes):
                    db.execute("INSERT INTO audio_codes(work_key, codes) VALUES(?,?)",
                               (key, np.ascontiguousarray(audio.codes, np.uint32).tobytes()))  # fmt: skip
            if visual is not None:
                self._insert_visual(db, key, visual)
            generation = self._bump_generation()
            hold_at("register:before-commit")
        return self.work_by_key(key), generation

    @staticmethod
    def _insert_visual(db, key: int, visual: VisualEntry) -> None:
        db.execute(
            "INSERT INTO visual_vectors(work_key, model, sample_fps, dim, frames, vectors, code, file, checksum)"
            " VALUES(?,?,?,?,?,?,?,?,?)",
            (key, visual.model, visual.sample_fps, visual.dim, visual.frames, visual.vectors, visual.code,
             visual.file, visual.checksum),
        )  # fmt: skip

    def edit_work(self, work_id: str, changes: dict[str, str]) -> Work:
        """Change a work's title, owner or category (``changes``: column -> value); the
        fingerprints and descriptors stay as they are, so no index changes."""
        if fixed := set(changes) - {"title", "owner", "category"}:
            raise StoreError(f"cannot change {', '.join(sorted(fixed))}")
        with self.database.transaction() as db:
            if self.work(work_id) is None:
                raise StoreError(f"no work with id {work_id!r}")
            if changes:
                db.execute(f"UPDATE works SET {', '.join(f'{k}=?' for k in changes)} WHERE work_id=?",
                           (*changes.values(), work_id))  # fmt: skip
        return self.work(work_id)

    def remove_work(self, work_id: str) -> tuple[Work, str | None, int]:
        """Delete a work; returns it, its descriptor file (for the caller to delete once this
        has committed) and the new generation."""
        with self.database.transaction() as db:
            work = self.work(work_id)
            if work is None:
                raise StoreError(f"no work with id {work_id!r}")
            row = db.execute("SELECT file FROM visual_vectors WHERE work_key=?", (work.key,)).fetchone()
            db.execute("DELETE FROM works WHERE key=?", (work.key,))
            generation = self._bump_generation()
        return work, (row[0] if row else None), generation

    def audio_features(self) -> tuple[int, list[tuple[int, AudioFingerprint]]]:
        """(generation, [(work_key, fingerprint)]), read in one snapshot."""
        with self.database.snapshot() as db:
            generation = self.generation()
            rows = db.execute("SELECT f.work_key, f.hashes, f.times, f.duration, c.codes FROM audio_features f"
                              " LEFT JOIN audio_codes c ON c.work_key = f.work_key ORDER BY f.work_key").fetchall()  # fmt: skip
        return generation, [
            (key, AudioFingerprint(np.frombuffer(h, np.uint32), np.frombuffer(t, np.float32), d,
                                   codes=np.frombuffer(c, np.uint32) if c is not None else np.zeros(0, np.uint32)))
            for key, h, t, d, c in rows
        ]  # fmt: skip

    # -- descriptors and the index --------------------------------------------------------

    def visual_state(self) -> VisualState:
        """Every work's descriptor entry and the index's codec and segments, in one snapshot."""
        with self.database.snapshot() as db:
            return self._read_visual_state(db)

    def _read_visual_state(self, db) -> VisualState:
        rows = db.execute("SELECT * FROM visual_vectors ORDER BY work_key").fetchall()
        segments = db.execute("SELECT * FROM index_segments ORDER BY id").fetchall()
        return VisualState(
            self._visual_version(),
            [_entry(r) for r in rows],
            [IndexSegment(r["id"], r["kind"], r["file"], r["codec"], r["vectors"]) for r in segments],
            self.database.meta("index_codec"),
        )

    def flat_vectors(self) -> int:
        """Stored descriptors not yet in an index segment."""
        row = self.database.execute("SELECT COALESCE(SUM(vectors), 0) FROM visual_vectors WHERE segment IS NULL")
        return int(row.fetchone()[0])

    @contextmanager
    def index_change(self) -> Iterator[IndexChange]:
        """One write transaction in which the index is read and replaced: a segment or
        codec swapped in commits together with the memberships it makes, or not at all.
        Holds the write lock throughout, so two processes never fold the same works."""
        with self.database.transaction() as db:
            change = IndexChange(self, db)
            yield change
            self.database.set_meta("index_version", str(int(self.database.meta("index_version") or 0) + 1))

    def files_named(self) -> set[str]:
        """Every file the database refers to (descriptor files, codec, segments)."""
        names = {r[0] for r in self.database.execute("SELECT file FROM visual_vectors")}
        names |= {r[0] for r in self.database.execute("SELECT file FROM index_segments")}
        names |= {r[0] for r in self.database.execute("SELECT codec FROM index_segments")}
        for key in ("index_codec", "rebuild_codec"):
            value = self.database.meta(key)
            if value:
                names.add(value)
        return names

    # -- version 2 libraries ----------------------------------------------------------------

    def legacy_visual_rows(self) -> Iterator[tuple[int, str, float, int, np.ndarray, np.ndarray]]:
        """(work_key, model, sample_fps, dim, float32 times, float32 descriptors) of a schema-2
        library's ``visual_features`` table, which the library moves to files; nothing once moved."""
        if not self.has_legacy_table():
            return
        keys = [r[0] for r in self.database.execute("SELECT work_key FROM visual_features ORDER BY work_key")]
        for key in keys:
            row = self.database.execute(
                "SELECT model, sample_fps, dim, timestamps, embeddings FROM visual_features WHERE work_key=?", (key,)
            ).fetchone()
            yield (key, row[0], row[1], row[2], np.frombuffer(row[3], np.float32).copy(),
                   np.frombuffer(row[4], np.float16).reshape(-1, row[2]).astype(np.float32))  # fmt: skip

    def has_legacy_table(self) -> bool:
        return self.database.has_table("visual_features")

    def finish_legacy_migration(self, entries: dict[int, VisualEntry]) -> None:
        """Name the moved works' files and drop the old table, in one transaction."""
        with self.database.transaction() as db:
            for key, entry in entries.items():
                db.execute("DELETE FROM visual_vectors WHERE work_key=?", (key,))
                self._insert_visual(db, key, entry)
            db.execute("DROP TABLE visual_features")
            self._bump_generation()


def _entry(row) -> VisualEntry:
    return VisualEntry(
        model=row["model"],
        sample_fps=row["sample_fps"],
        dim=row["dim"],
        frames=row["frames"],
        vectors=row["vectors"],
        code=row["code"],
        file=row["file"],
        checksum=row["checksum"],
        key=row["work_key"],
        segment=row["segment"],
    )


class IndexChange:
    """What ``Store.index_change`` lets a fold or a rebuild write (inside its transaction)."""

    def __init__(self, store: Store, db):
        self._store = store
        self._db = db

    def state(self) -> VisualState:
        return self._store._read_visual_state(self._db)

    def meta(self, key: str) -> str | None:
        return self._store.database.meta(key)

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self._db.execute("DELETE FROM meta WHERE key=?", (key,))
        else:
            self._store.database.set_meta(key, value)

    def put_segment(self, segment: IndexSegment, members: list[int]) -> None:
        """Add ``segment`` and move the works ``members`` into it (works that were removed
        meanwhile are skipped: their rows are gone)."""
        self._db.execute(
            "INSERT INTO index_segments(id, kind, file, codec, vectors, created) VALUES(?,?,?,?,?,?)",
            (segment.id, segment.kind, segment.file, segment.codec, segment.vectors, _now()),
        )
        self._db.executemany("UPDATE visual_vectors SET segment=? WHERE work_key=?", [(segment.id, k) for k in members])

    def add_members(self, segment: IndexSegment, members: list[int]) -> list[int]:
        """Move the works ``members`` into ``segment`` (added if the database has no such
        segment yet); returns those moved: works removed meanwhile are skipped. The segment's
        count becomes that of its works. For a segment that grows in place (``video.milvus``)."""
        self._db.execute(
            "INSERT INTO index_segments(id, kind, file, codec, vectors, created) VALUES(?,?,?,?,?,?)"
            " ON CONFLICT(id) DO NOTHING",
            (segment.id, segment.kind, segment.file, segment.codec, segment.vectors, _now()),
        )
        moved = []
        for key in members:
            if self._db.execute("UPDATE visual_vectors SET segment=? WHERE work_key=?", (segment.id, key)).rowcount:
                moved.append(key)
        self._db.execute("UPDATE index_segments SET vectors=(SELECT COALESCE(SUM(vectors), 0) FROM visual_vectors"
                         " WHERE segment=?) WHERE id=?", (segment.id, segment.id))  # fmt: skip
        return moved

    def drop_segment(self, segment_id: str) -> None:
        """Remove a segment; works still in it go back to the exactly searched part."""
        self._db.execute("UPDATE visual_vectors SET segment=NULL WHERE segment=?", (segment_id,))
        self._db.execute("DELETE FROM index_segments WHERE id=?", (segment_id,))
