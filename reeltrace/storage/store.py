"""Metadata store: one SQLite database (WAL) in the library folder.

The database is the source of truth. A work's row and its frame descriptors are written in
one transaction, so a register either happened completely or not at all, even when the
process is killed half-way; the vector index files (``index``) are caches derived from it
and checked against ``generation``, a counter bumped by every change to the catalogue.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone

import numpy as np

from ..audio.config import FINGERPRINT_VERSION
from ..audio.records import AudioFingerprint
from ..holds import hold_at
from ..records import Work
from .sqlite import Database

SCHEMA_VERSION = 2  # 2: audio_features

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
CREATE TABLE IF NOT EXISTS visual_features (
    work_key INTEGER PRIMARY KEY REFERENCES works(key) ON DELETE CASCADE,
    model TEXT NOT NULL,
    sample_fps REAL NOT NULL,
    dim INTEGER NOT NULL,
    timestamps BLOB NOT NULL,   -- float32 seconds
    embeddings BLOB NOT NULL    -- float16, row-major (frames, dim)
);
CREATE TABLE IF NOT EXISTS audio_features (
    work_key INTEGER PRIMARY KEY REFERENCES works(key) ON DELETE CASCADE,
    hashes BLOB NOT NULL,       -- uint32 landmark hashes
    times BLOB NOT NULL,        -- float32 anchor seconds
    duration REAL NOT NULL
);
"""


class StoreError(Exception):
    """A library problem the user must act on (bad id, incompatible library)."""


class SameContentRegistered(StoreError):
    """The content (by its hash) is registered already."""


class WorkIdTaken(StoreError):
    """Another work holds the id."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_version(db: Database) -> None:
    version = db.meta("schema_version")
    if version is None:
        db.set_meta("schema_version", str(SCHEMA_VERSION))
        db.set_meta("generation", "0")
    elif int(version) > SCHEMA_VERSION:
        raise StoreError(f"library was written by a newer reeltrace (schema {version})")
    elif int(version) < SCHEMA_VERSION:
        db.set_meta("schema_version", str(SCHEMA_VERSION))  # new tables only: nothing to convert


def _work(row: sqlite3.Row) -> Work:
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
    """Works and their descriptors. Safe to use from several processes at once."""

    def __init__(self, path: str):
        self.path = path
        self.database = Database(
            path, _SCHEMA, on_open=_check_version, locked=lambda: StoreError("library is locked by another process")
        )

    def close(self) -> None:
        self.database.close()

    def _bump_generation(self) -> int:
        generation = int(self.database.meta("generation") or 0) + 1
        self.database.set_meta("generation", str(generation))
        return generation

    def generation(self) -> int:
        return int(self.database.meta("generation") or 0)

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
        model: str,
        sample_fps: float,
        timestamps: np.ndarray | None,
        embeddings: np.ndarray | None,
        audio: AudioFingerprint | None = None,
    ) -> tuple[Work, int]:
        """Insert a work with its frame descriptors and/or audio fingerprint, in one
        transaction; returns it (with its key) and the new generation."""
        with self.database.transaction() as db:
            library_model = self.database.meta("model")
            if embeddings is not None and library_model is None:
                self.database.set_meta("model", model)
            elif embeddings is not None and library_model != model:
                raise StoreError(f"library uses model {library_model!r}, not {model!r}")
            if self.work_by_hash(work.content_hash) is not None:
                raise SameContentRegistered("same content already registered")
            if self.work(work.work_id) is not None:
                raise WorkIdTaken(f"work id {work.work_id!r} is already taken")
            cursor = db.execute(
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
                    0 if timestamps is None else len(timestamps),
                ),
            )
            key = int(cursor.lastrowid)
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
            if embeddings is None:
                return self._finish_add(key)
            db.execute(
                "INSERT INTO visual_features(work_key, model, sample_fps, dim, timestamps, embeddings)"
                " VALUES(?,?,?,?,?,?)",
                (
                    key,
                    model,
                    sample_fps,
                    embeddings.shape[1],
                    np.ascontiguousarray(timestamps, np.float32).tobytes(),
                    np.ascontiguousarray(embeddings, np.float16).tobytes(),
                ),
            )
            return self._finish_add(key)

    def _finish_add(self, key: int) -> tuple[Work, int]:
        generation = self._bump_generation()
        hold_at("register:before-commit")
        return self.work_by_key(key), generation

    def remove_work(self, work_id: str) -> tuple[Work, int]:
        with self.database.transaction() as db:
            work = self.work(work_id)
            if work is None:
                raise StoreError(f"no work with id {work_id!r}")
            db.execute("DELETE FROM works WHERE key=?", (work.key,))
            generation = self._bump_generation()
        return work, generation

    def all_work_times(self) -> dict[int, np.ndarray]:
        rows = self.database.execute("SELECT work_key, timestamps FROM visual_features").fetchall()
        return {key: np.frombuffer(times, np.float32).astype(np.float64) for key, times in rows}

    def audio_features(self) -> tuple[int, list[tuple[int, AudioFingerprint]]]:
        """(generation, [(work_key, fingerprint)]), read in one snapshot."""
        with self.database.snapshot() as db:
            generation = self.generation()
            rows = db.execute("SELECT work_key, hashes, times, duration FROM audio_features ORDER BY work_key").fetchall()
        return generation, [
            (key, AudioFingerprint(np.frombuffer(h, np.uint32), np.frombuffer(t, np.float32), d)) for key, h, t, d in rows
        ]

    def visual_features(self) -> tuple[int, Iterator[tuple[int, np.ndarray, np.ndarray]]]:
        """(generation, iterator of (work_key, timestamps, float32 embeddings)), read in one snapshot."""
        with self.database.snapshot() as db:
            generation = self.generation()
            rows = db.execute(
                "SELECT work_key, dim, timestamps, embeddings FROM visual_features ORDER BY work_key"
            ).fetchall()

        def items() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
            for key, dim, times, vectors in rows:
                yield (
                    key,
                    np.frombuffer(times, np.float32).astype(np.float64),
                    np.frombuffer(vectors, np.float16).reshape(-1, dim).astype(np.float32),
                )

        return generation, items()
