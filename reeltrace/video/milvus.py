"""The visual index's vectors on Milvus (issue 17): a collection in place of the FAISS segments.

**Choosing it.** A library keeps its vectors where its database says (meta ``vectors``):
absent or ``faiss``, the FAISS index files of ``index`` and ``segments`` (the default);
``milvus-lite[:FILE.db]``, a Milvus Lite folder (``milvus.db`` in the library folder unless
named; one process at a time); ``milvus://HOST[:PORT][/COLLECTION][?index=TYPE&db=NAME]``
(``milvus+https://`` for TLS), a Milvus server or cluster, with the token, if any, in
``$REELTRACE_MILVUS_TOKEN`` (never stored). ``reeltrace init --vectors URI`` sets it
(``Library.set_vectors``), moving the vectors of the works already registered.

**What Milvus holds.** One entity per stored descriptor: ``id`` (primary key, the packed
``work_key << 24 | vector_number`` of ``index``), ``work_key``, ``time`` (the first frame
time of its static-shot run) and ``vector``, the stored 4-bit descriptor decoded to float32.
The descriptor files stay the source of truth: every hit Milvus returns is re-scored on the
stored codes, exactly as a FAISS segment's, so the similarities are the FAISS path's.

**The database stays the source of truth.** Milvus cannot commit together with SQLite, so
every change is ordered and idempotent instead:

* *Register.* The work is committed in SQLite first, outside the index (``segment`` NULL:
  searched exactly from its file, as FAISS's not-yet-folded works are). Then ``fold``
  upserts its vectors (idempotent: the primary key is the packed id) and only then commits
  the work into the ``milvus`` segment. A crash in between leaves a registered work,
  searched exactly, that the next fold upserts again.
* *Remove.* SQLite commits the removal first, then the work's vectors are deleted from
  Milvus. Hits of a work the database does not place in the ``milvus`` segment are dropped
  at search (``VisualIndex._members``), so a crash in between leaves vectors that can never
  match; they are deleted later.
* *Intents.* Each operation that writes Milvus first records which work keys it touches
  (``vector_intents``, committed before the Milvus call) and clears them when done. Whoever
  finds an intent of a work the database no longer holds deletes that work's vectors
  (``reconcile``: at every fold and remove; work keys are never reused, so deleting a
  removed work's vectors is always safe). ``reeltrace index rebuild`` also sweeps the
  collection for any work key the database does not hold.
* A fold's membership commit skips works removed meanwhile and deletes their vectors after.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ..holds import hold_at
from ..storage import vectors as vector_files
from ..storage.store import IndexChange, IndexSegment, Store, StoreError, VisualEntry
from . import codes
from .index import IndexParams, pack_ids

log = logging.getLogger(__name__)

META_KEY = "vectors"  # the library's meta key naming where its vectors are (absent: faiss)
SEGMENT_ID = "milvus"  # the index segment the database puts works in once Milvus holds them
SEGMENT_KIND = "milvus"
TOKEN_ENV = "REELTRACE_MILVUS_TOKEN"
DEFAULT_LITE_FILE = "milvus.db"
DEFAULT_COLLECTION = "reeltrace"
DEFAULT_PORT = 19530
INDEX_TYPES = ("FLAT", "HNSW", "IVF_PQ", "IVF_SQ8", "IVF_FLAT", "DISKANN")
EXACT_DISTANCES = ("FLAT", "HNSW", "IVF_FLAT", "DISKANN")
"""Index types whose returned distances are the full-precision ones: their top k is the
top k after re-scoring, so they are asked for k neighbours; the others (product or scalar
codes) for ``rerank_factor x k``, like a FAISS segment."""
LIBRARY_PROPERTY = "reeltrace.library"  # the collection property naming the library it serves
UPSERT_ROWS = 512
SEARCH_ROWS = 1024  # query descriptors per search request (a 60 s query has ~300-500)
INTENT_GRACE_S = 600.0
"""An intent of a work still registered is cleared by ``reconcile`` only this long after it
was recorded: younger ones may belong to a remove still running."""

Progress = Callable[[str, int, int], None]


class VectorsUnavailable(StoreError):
    """Milvus cannot be used: not installed, unreachable, or its collection is not this library's."""


@dataclass(frozen=True)
class VectorsConfig:
    """Where a library keeps its vectors (``parse``)."""

    text: str  # as stored in the library's meta ("faiss" when absent)
    remote: bool = False  # on Milvus
    uri: str = ""  # for the client: a Milvus Lite folder (.db, relative to the library) or http(s)://host:port
    collection: str = DEFAULT_COLLECTION
    database: str | None = None
    index_type: str = "FLAT"

    @property
    def lite(self) -> bool:
        return self.remote and not self.uri.startswith(("http://", "https://"))


FAISS = VectorsConfig("faiss")


def parse(text: str | None) -> VectorsConfig:
    """The configuration a ``--vectors`` value (or the stored meta) names; StoreError when it
    names none."""
    text = (text or "faiss").strip()
    if text == "faiss":
        return FAISS
    if text == "milvus-lite" or text.startswith(("milvus-lite:", "milvus-lite?")):
        rest = text[len("milvus-lite"):].removeprefix(":")
        path, _, query = rest.partition("?")
        path = path or DEFAULT_LITE_FILE
        if not path.endswith(".db"):
            raise StoreError(f"--vectors {text}: a Milvus Lite file's name ends in .db")
        return VectorsConfig(text, True, path, DEFAULT_COLLECTION, None, _index_type(text, query, "FLAT"))
    for scheme, http in (("milvus://", "http"), ("milvus+https://", "https"), ("milvus+http://", "http")):
        if text.startswith(scheme):
            parts = urlsplit(text)
            if not parts.hostname:
                raise StoreError(f"--vectors {text}: no host (milvus://HOST:PORT/COLLECTION)")
            if parts.username or parts.password:
                raise StoreError(f"--vectors {text}: no credentials in the URI; set ${TOKEN_ENV}")
            try:
                port = parts.port or DEFAULT_PORT
            except ValueError:
                raise StoreError(f"--vectors {text}: bad port") from None
            collection = parts.path.strip("/") or DEFAULT_COLLECTION
            if not collection.replace("_", "a").isalnum() or not collection[0].isalpha():
                raise StoreError(f"--vectors {text}: a collection name is letters, digits and '_', starting with a letter")
            database = (parse_qs(parts.query).get("db") or [None])[0]
            return VectorsConfig(text, True, f"{http}://{parts.hostname}:{port}", collection, database,
                                 _index_type(text, parts.query, "HNSW"))  # fmt: skip
    raise StoreError(f"--vectors {text}: expected faiss, milvus-lite[:FILE.db] or milvus://HOST:PORT/COLLECTION")


def _index_type(text: str, query: str, default: str) -> str:
    values = parse_qs(query)
    unknown = set(values) - {"index", "db"}
    if unknown:
        raise StoreError(f"--vectors {text}: unknown option(s) {', '.join(sorted(unknown))} (index=, db=)")
    index_type = (values.get("index") or [default])[0].upper()
    if index_type not in INDEX_TYPES:
        raise StoreError(f"--vectors {text}: index type {index_type!r} is not one of {', '.join(INDEX_TYPES)}")
    return index_type


# -- the collection ----------------------------------------------------------------------------

_lite_users: dict[str, int] = {}  # Milvus Lite folder -> clients open on it in this process


@contextmanager
def _milvus_errors(config: VectorsConfig) -> Iterator[None]:
    try:
        yield
    except StoreError:
        raise
    except Exception as err:  # pymilvus' MilvusException, gRPC errors, a Lite folder locked by another process
        message = " ".join(str(getattr(err, "message", None) or err).split())
        raise VectorsUnavailable(f"vectors on {config.text}: {message}") from None


class MilvusVectors:
    """One library's collection: created on first use, claimed for the library by a property
    naming its id (another library's collection is refused)."""

    def __init__(self, config: VectorsConfig, folder: str, library_id: str, params: IndexParams = IndexParams()):
        self.config = config
        self.library_id = library_id
        self.params = params
        self._uri = os.path.join(folder, config.uri) if config.lite else config.uri
        self._client = None
        self._ready = False  # the collection exists, is this library's and is loaded
        self._dim: int | None = None

    @property
    def place(self) -> tuple[str, str, str | None]:
        """Where the vectors are: two configurations with the same place share a collection."""
        uri = os.path.abspath(self._uri) if self.config.lite else self._uri
        return uri, self.config.collection, self.config.database

    @property
    def client(self):
        if self._client is None:
            with _milvus_errors(self.config):
                try:
                    from pymilvus import MilvusClient
                except ImportError:
                    raise VectorsUnavailable(f"this library keeps its vectors on Milvus ({self.config.text}): "
                                             "install them with pip install 'reeltrace[scale]'") from None  # fmt: skip
                kwargs = {"token": os.environ.get(TOKEN_ENV, "")} if not self.config.lite else {}
                if self.config.database:
                    kwargs["db_name"] = self.config.database
                if self.config.lite:
                    self._uri = os.path.abspath(self._uri)
                    os.makedirs(os.path.dirname(self._uri), exist_ok=True)
                self._client = MilvusClient(self._uri, **kwargs)
                if self.config.lite:
                    _lite_users[self._uri] = _lite_users.get(self._uri, 0) + 1
        return self._client

    def close(self) -> None:
        """Close the client; the last one of a Milvus Lite folder in this process releases it
        (its lock), so that another process may open it."""
        if self._client is None:
            return
        try:
            self._client.close()
        except Exception:
            pass
        self._client = None
        self._ready = False
        if self.config.lite:
            _lite_users[self._uri] -= 1
            if _lite_users[self._uri] <= 0:
                del _lite_users[self._uri]
                try:
                    from milvus_lite.server_manager import server_manager_instance

                    server_manager_instance.release_server(self._uri)
                except Exception:
                    pass

    def exists(self) -> bool:
        with _milvus_errors(self.config):
            return bool(self.client.has_collection(self.config.collection))

    def prepare(self, dim: int) -> None:
        """Make sure the collection exists (created for vectors of ``dim``), is this library's
        and is loaded for search."""
        if self._ready:
            if self._dim != dim:
                raise VectorsUnavailable(f"vectors on {self.config.text}: the collection holds {self._dim}-d vectors, "
                                         f"not {dim}-d")  # fmt: skip
            return
        name = self.config.collection
        with _milvus_errors(self.config):
            client = self.client
            if not client.has_collection(name):
                self._create(dim)
            info = client.describe_collection(name)
            owner = (info.get("properties") or {}).get(LIBRARY_PROPERTY)
            if owner is None:
                # Made by hand (or by a create that stopped before its property): claimed
                # only while empty.
                if self._count() > 0:
                    raise VectorsUnavailable(f"vectors on {self.config.text}: collection {name!r} holds vectors of no "
                                             "reeltrace library: name another collection")  # fmt: skip
                client.alter_collection_properties(name, properties={LIBRARY_PROPERTY: self.library_id})
            elif owner != self.library_id:
                raise VectorsUnavailable(f"vectors on {self.config.text}: collection {name!r} holds another library's "
                                         "vectors: name another collection")  # fmt: skip
            fields = {f["name"]: f for f in info["fields"]}
            held = int((fields.get("vector") or {}).get("params", {}).get("dim", -1))
            if held != dim:
                raise VectorsUnavailable(f"vectors on {self.config.text}: collection {name!r} holds {held}-d vectors, "
                                         f"not {dim}-d")  # fmt: skip
            state = client.get_load_state(name).get("state")
            if getattr(state, "name", str(state)) != "Loaded":
                client.load_collection(name)
        self._ready = True
        self._dim = dim

    def _create(self, dim: int) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                            description=f"reeltrace library {self.library_id}")  # fmt: skip
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("work_key", DataType.INT64)
        schema.add_field("time", DataType.FLOAT)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = self.client.prepare_index_params()
        index.add_index(field_name="vector", index_type=self.config.index_type, metric_type="IP",
                        params=_build_params(self.config.index_type))  # fmt: skip
        if not self.config.lite:
            index.add_index(field_name="work_key", index_type="INVERTED")  # deletes by work filter on it
        self.client.create_collection(self.config.collection, schema=schema, index_params=index,
                                      consistency_level="Strong")  # fmt: skip
        self.client.alter_collection_properties(self.config.collection, properties={LIBRARY_PROPERTY: self.library_id})

    def _count(self, work_key: int | None = None) -> int:
        where = "" if work_key is None else f"work_key == {int(work_key)}"
        rows = self.client.query(self.config.collection, filter=where, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def count(self, work_key: int | None = None) -> int | None:
        """Vectors in the collection (of the work ``work_key`` only, if given); None while
        there is no collection."""
        with _milvus_errors(self.config):
            if not self.exists():
                return None
            self.prepare(self._dim or self._held_dim())
            return self._count(work_key)

    def _held_dim(self) -> int:
        info = self.client.describe_collection(self.config.collection)
        fields = {f["name"]: f for f in info["fields"]}
        return int(fields["vector"]["params"]["dim"])

    def upsert(self, key: int, stored) -> int:
        """Put a work's stored descriptors (``StoredFrames``) in the collection, replacing
        any it held under the same ids (a retry writes the same entities again)."""
        n = len(stored)
        if n == 0:
            return 0
        vectors = codes.decode(np.asarray(stored.codes))
        self.prepare(vectors.shape[1])
        ids = pack_ids(key, n).tolist()
        starts = np.asarray(stored.starts, np.int64)[:-1]
        times = np.asarray(stored.times, np.float32)[starts].tolist() if len(stored.times) else [0.0] * n
        with _milvus_errors(self.config):
            for a in range(0, n, UPSERT_ROWS):
                rows = [{"id": ids[i], "work_key": key, "time": times[i], "vector": vectors[i]}
                        for i in range(a, min(n, a + UPSERT_ROWS))]  # fmt: skip
                self.client.upsert(self.config.collection, rows)
        return n

    def delete(self, keys) -> None:
        """Delete every vector of the works ``keys`` (idempotent; nothing to do without a collection)."""
        keys = sorted({int(k) for k in keys})
        if not keys:
            return
        with _milvus_errors(self.config):
            if not self.client.has_collection(self.config.collection):
                return
            for a in range(0, len(keys), 1000):
                self.client.delete(self.config.collection, filter=f"work_key in {keys[a:a + 1000]}")

    def work_keys_except(self, known: set[int]) -> set[int]:
        """The work keys of vectors in the collection that are not in ``known``."""
        found: set[int] = set()
        with _milvus_errors(self.config):
            if not self.client.has_collection(self.config.collection):
                return found
            self.prepare(self._dim or self._held_dim())
            while True:
                excluded = sorted(known | found)
                rows = self.client.query(self.config.collection, filter=f"work_key not in {excluded}",
                                         output_fields=["work_key"], limit=16384)  # fmt: skip
                new = {int(r["work_key"]) for r in rows} - found
                if not new:
                    return found
                found |= new

    def shortlist(self, vectors: np.ndarray, k: int) -> np.ndarray:
        """Packed ids of the nearest stored vectors of each row (``-1`` past the last)."""
        exact = self.config.index_type in EXACT_DISTANCES
        width = k if exact else k * self.params.rerank_factor
        params = _search_params(self.config.index_type, k, self.params.nprobe)
        out = np.full((len(vectors), width), -1, np.int64)
        self.prepare(vectors.shape[1])
        with _milvus_errors(self.config):
            for a in range(0, len(vectors), SEARCH_ROWS):
                batch = vectors[a:a + SEARCH_ROWS]
                found = self.client.search(self.config.collection, data=list(batch), limit=width, anns_field="vector",
                                           search_params={"metric_type": "IP", "params": params},
                                           output_fields=["id"], consistency_level="Strong")  # fmt: skip
                for i, hits in enumerate(found):
                    ids = np.asarray(hits.ids, np.int64)[:width]
                    out[a + i, : len(ids)] = ids
        return out

    def drop(self) -> None:
        """Drop the collection (only this library's)."""
        with _milvus_errors(self.config):
            if not self.client.has_collection(self.config.collection):
                return
            owner = (self.client.describe_collection(self.config.collection).get("properties") or {}).get(LIBRARY_PROPERTY)
            if owner == self.library_id:
                self.client.drop_collection(self.config.collection)
        self._ready = False


def _build_params(index_type: str) -> dict:
    return {
        "HNSW": {"M": 16, "efConstruction": 200},
        "IVF_PQ": {"nlist": 1024, "m": 64, "nbits": 8},
        "IVF_SQ8": {"nlist": 1024},
        "IVF_FLAT": {"nlist": 1024},
    }.get(index_type, {})


def _search_params(index_type: str, k: int, nprobe: int) -> dict:
    """HNSW's ef at 2k: recall of the kept top 64 0.994, against 0.984 at k and 0.996 at 4k
    for 2.4x the time (scripts/milvus_index_recall.py, BENCHMARKS.md)."""
    if index_type == "HNSW":
        return {"ef": 2 * k}
    if index_type == "DISKANN":
        return {"search_list": 2 * k}
    if index_type.startswith("IVF"):
        return {"nprobe": nprobe}
    return {}


class MilvusSegment:
    """The ``milvus`` index segment as ``VisualIndex`` searches it: a shortlist of packed ids
    (``ntotal``: the vectors the database places in it, set at each refresh)."""

    def __init__(self, vectors: MilvusVectors, segment: IndexSegment):
        self.vectors = vectors
        self.segment = segment
        self.ntotal = 0

    def shortlist(self, queries: np.ndarray, k: int) -> np.ndarray:
        return self.vectors.shortlist(queries, k)


# -- intents: what a Milvus write is about, committed before it ---------------------------------

_INTENTS = """CREATE TABLE IF NOT EXISTS vector_intents (
    work_key INTEGER NOT NULL,  -- no foreign key: an intent outlives its work's removal
    token TEXT NOT NULL,        -- the operation's own, cleared by it when done
    created REAL NOT NULL,      -- unix seconds
    PRIMARY KEY (work_key, token)
)"""


def intend(store: Store, keys) -> str:
    """Record (committed) that an operation is about to write the works ``keys`` on Milvus;
    returns its token, for ``done``."""
    token = secrets.token_hex(8)
    now = time.time()
    with store.database.transaction() as db:
        db.execute(store.database.ddl(_INTENTS))
        db.executemany("INSERT INTO vector_intents(work_key, token, created) VALUES(?,?,?)",
                       [(int(k), token, now) for k in keys])  # fmt: skip
    return token


def done(store: Store, token: str) -> None:
    with store.database.transaction() as db:
        db.execute(store.database.ddl(_INTENTS))
        db.execute("DELETE FROM vector_intents WHERE token=?", (token,))


def pending(store: Store) -> list[tuple[int, str, float]]:
    """The intents not cleared: (work key, token, unix time recorded)."""
    if not store.database.has_table("vector_intents"):
        return []
    return [tuple(r) for r in store.database.execute("SELECT work_key, token, created FROM vector_intents")]


def _registered(store: Store, keys) -> set[int]:
    keys = sorted({int(k) for k in keys})
    held: set[int] = set()
    for a in range(0, len(keys), 500):
        part = keys[a:a + 500]
        rows = store.database.execute(f"SELECT key FROM works WHERE key IN ({','.join('?' * len(part))})", part)
        held |= {int(r[0]) for r in rows}
    return held


def reconcile(store: Store, milvus: MilvusVectors, grace_s: float = INTENT_GRACE_S) -> int:
    """Finish what interrupted operations left: delete the vectors of every work with an
    intent that the database no longer holds, and clear intents of works still held once
    older than ``grace_s``. Idempotent. Returns the works whose vectors were deleted."""
    intents = pending(store)
    if not intents:
        return 0
    held = _registered(store, {k for k, _, _ in intents})
    gone = {k for k, _, _ in intents if k not in held}
    milvus.delete(gone)
    now = time.time()
    cleared = [(k, t) for k, t, created in intents if k in gone or now - created >= grace_s]
    if cleared:
        with store.database.transaction() as db:
            db.executemany("DELETE FROM vector_intents WHERE work_key=? AND token=?", cleared)
    return len(gone)


# -- folding works in, removing them, rebuilding --------------------------------------------------


def _stored(folder: str, entry: VisualEntry):
    stored = vector_files.read(os.path.join(folder, entry.file))
    if stored.code != codes.CODE_NAME:
        raise vector_files.VectorFileError(f"{entry.file}: code {stored.code!r}, expected {codes.CODE_NAME!r}")
    return stored


def quiet(stage: str, done_: int, total: int) -> None:
    pass


@dataclass(frozen=True)
class FoldResult:
    works: int  # works now in the milvus segment
    vectors: int
    removed_meanwhile: int  # works removed while their vectors were upserted (then deleted again)


def fold(folder: str, store: Store, milvus: MilvusVectors, progress: Progress = quiet, everything: bool = False,
         switch: Callable[[IndexChange], None] | None = None) -> FoldResult:  # fmt: skip
    """Upsert the vectors of every work not yet in the ``milvus`` segment (``everything``:
    of every work), then commit them into it. Safe to run in several processes at once and to
    repeat after a crash (see the module docstring). ``switch(change)`` runs first in the
    transaction that commits them (``Library.set_vectors``: the old index leaves in it)."""
    reconcile(store, milvus)
    state = store.visual_state()
    todo = [e for e in state.entries if e.vectors and (everything or e.segment != SEGMENT_ID)]
    if not todo and switch is None:
        return FoldResult(0, 0, 0)
    total = sum(e.vectors for e in todo)
    token = intend(store, [e.key for e in todo])
    count = 0
    progress("add", 0, total)
    for entry in todo:
        try:
            stored = _stored(folder, entry)
        except vector_files.VectorFileError:
            if os.path.exists(os.path.join(folder, entry.file)):
                raise
            continue  # removed since the state was read: its intent deletes whatever was put
        count += milvus.upsert(entry.key, stored)
        progress("add", count, total)
    hold_at("vectors:upserted")
    segment = IndexSegment(SEGMENT_ID, SEGMENT_KIND, milvus.config.text, "", 0)
    with store.index_change() as change:
        if switch is not None:
            switch(change)
        moved = set(change.add_members(segment, [e.key for e in todo]))
    gone = {e.key for e in todo} - moved
    milvus.delete(gone)
    done(store, token)
    return FoldResult(len(moved), sum(e.vectors for e in todo if e.key in moved), len(gone))


def forget_removed(store: Store, milvus: MilvusVectors, keys, token: str) -> None:
    """After the removal of the works ``keys`` has committed: delete their vectors, then the
    intent ``token`` recorded before it."""
    hold_at("remove:committed")
    milvus.delete(keys)
    done(store, token)


@dataclass(frozen=True)
class RebuildResult:
    works: int
    vectors: int
    orphans_deleted: int  # works whose vectors Milvus held but the database does not
    removed_files: int


def rebuild(folder: str, store: Store, milvus: MilvusVectors, progress: Progress = quiet,
            collect_garbage: Callable[[], int] | None = None) -> RebuildResult:  # fmt: skip
    """Put every registered work's vectors in the collection again (created if it is gone),
    delete those of any work the database does not hold, and clear every intent: whatever an
    operation running meanwhile leaves behind is never matched, and the next rebuild sweeps it."""
    deleted = reconcile(store, milvus, grace_s=0.0)
    result = fold(folder, store, milvus, progress, everything=True)
    # Milvus is read before the database: a register commits its work before upserting it,
    # so any key found in Milvus that the later read does not hold was removed (never reused).
    candidates = milvus.work_keys_except({e.key for e in store.visual_state().entries})
    orphans = candidates - _registered(store, candidates)
    milvus.delete(orphans)
    removed = collect_garbage() if collect_garbage is not None else 0
    return RebuildResult(result.works, result.vectors, deleted + len(orphans), removed)


def status(store: Store, milvus: MilvusVectors) -> dict:
    """What ``reeltrace index status`` adds for a library on Milvus."""
    return {
        "vectors_on": milvus.config.text,
        "collection": milvus.config.collection,
        "index_type": milvus.config.index_type,
        "collection_vectors": milvus.count(),
        "pending_intents": len(pending(store)),
    }
