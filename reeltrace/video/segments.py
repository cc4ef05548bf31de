"""Building the index's segments: folding newly registered works in, rebuilding from scratch.

* **Fold** (after a register, when the exactly searched part passes ``flat_limit``): the
  works not yet in a segment are added to the newest delta segment (a copy of it is
  written under a new name, at most ``delta_limit`` vectors, so a fold costs what it adds,
  not the catalogue), or to a new one. The first fold of a library trains its first codec
  on what is there. Inside one write transaction: another process sees the old segment or
  the new one, and two processes never fold the same works.
* **Rebuild** (``reeltrace index rebuild``): a codec trained on a sample of the whole
  catalogue, and one base segment holding every work. It runs outside any long
  transaction, writing a checkpoint (the partial segment, and the last work it holds) every
  ``checkpoint`` vectors, so a killed rebuild resumes where it stopped; registers and scans
  go on meanwhile, and the new index replaces the old in one transaction at the end.

Files are written and flushed before the transaction that names them commits, and deleted
after the one that stops naming them: a kill at any point leaves at worst an orphan file,
which ``collect_garbage`` removes.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..holds import hold_at
from ..storage import vectors as vector_files
from ..storage.store import IndexSegment, Store, VisualEntry, VisualState
from . import ann, codes
from .index import IndexParams, pack_ids

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: a stage's count of vectors done so far."""

INDEX_FOLDER = "index"
DELTA_LIMIT = 1_000_000
"""Vectors per delta segment before a new one starts: rewriting one to add a fold's works
reads and writes at most 40 MB."""
CHECKPOINT = 500_000
REBUILD_KEYS = ("rebuild_codec", "rebuild_trained_on", "rebuild_partial")
"""Meta keys of a rebuild in progress (its trained codec and last checkpoint)."""


def quiet(stage: str, done: int, total: int) -> None:
    pass


def _new_file(folder: str, kind: str) -> str:
    os.makedirs(os.path.join(folder, INDEX_FOLDER), exist_ok=True)
    return os.path.join(INDEX_FOLDER, f"{kind}-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}.faiss")


def _decoded(folder: str, entry: VisualEntry, rows: np.ndarray | None = None) -> np.ndarray:
    stored = vector_files.read(os.path.join(folder, entry.file))
    if stored.code != codes.CODE_NAME:
        raise vector_files.VectorFileError(f"{entry.file}: code {stored.code!r}, expected {codes.CODE_NAME!r}")
    return codes.decode(stored.codes if rows is None else stored.codes[rows])


def training_sample(folder: str, entries: list[VisualEntry], points: int, seed: int = 0) -> np.ndarray:
    """About ``points`` stored descriptors spread evenly over every work (a fixed seed: the
    same catalogue trains the same codec)."""
    total = sum(e.vectors for e in entries)
    rng = np.random.default_rng(seed)
    parts = []
    for entry in entries:
        if entry.vectors == 0:
            continue
        share = entry.vectors if total <= points else rng.binomial(entry.vectors, points / total)
        if share:
            rows = np.sort(rng.choice(entry.vectors, size=min(share, entry.vectors), replace=False))
            parts.append(_decoded(folder, entry, rows))
    sample = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
    sample /= np.linalg.norm(sample, axis=1, keepdims=True) + 1e-12
    return sample


def _add_works(folder: str, index, entries: list[VisualEntry], progress: Progress, stage: str, done: int,
               total: int) -> int:  # fmt: skip
    for entry in entries:
        if entry.vectors:
            vectors = _decoded(folder, entry)
            ann.add(index, pack_ids(entry.key, len(vectors)), vectors)
            done += len(vectors)
            progress(stage, done, total)
    return done


def _train(folder: str, entries: list[VisualEntry], progress: Progress) -> tuple[object, int]:
    total = sum(e.vectors for e in entries)
    nlist = ann.nlist_for(total)
    progress("sample", 0, 1)
    sample = training_sample(folder, entries, ann.train_points(nlist))
    progress("train", 0, 1)
    codec = ann.train_codec(sample, nlist)
    progress("train", 1, 1)
    return codec, len(sample)


@dataclass(frozen=True)
class FoldResult:
    folded_works: int
    folded_vectors: int
    segment: str | None


def fold(folder: str, store: Store, params: IndexParams = IndexParams(), progress: Progress = quiet,
         force: bool = False) -> FoldResult:  # fmt: skip
    """Move the exactly searched works into a segment once they pass ``flat_limit`` (or
    whenever there are any, with ``force``)."""
    retired: list[str] = []
    with store.index_change() as change:
        state = change.state()
        flat = [e for e in state.entries if e.segment is None and e.vectors]
        count = sum(e.vectors for e in flat)
        if not flat or (count <= params.flat_limit and not force):
            return FoldResult(0, 0, None)
        if state.codec is None:
            codec, trained_on = _train(folder, flat, progress)
            codec_file = _new_file(folder, "codec")
            ann.write(codec, os.path.join(folder, codec_file))
            change.set_meta("index_codec", codec_file)
            change.set_meta("index_trained_on", str(trained_on))
            change.set_meta("index_trained_for", str(count))
            base_members: list[int] = []
            segment_kind = "base"
            index = codec
        else:
            codec_file = state.codec
            deltas = [s for s in state.segments if s.kind == "delta" and s.codec == codec_file]
            current = deltas[-1] if deltas and deltas[-1].vectors + count <= DELTA_LIMIT else None
            segment_kind = "delta"
            if current is None:
                index = ann.read(os.path.join(folder, codec_file))
                base_members = []
            else:
                index = ann.read(os.path.join(folder, current.file))
                base_members = [e.key for e in state.entries if e.segment == current.id]
                change.drop_segment(current.id)
                retired.append(current.file)
        _add_works(folder, index, flat, progress, "fold", 0, count)
        segment_file = _new_file(folder, segment_kind)
        ann.write(index, os.path.join(folder, segment_file))
        hold_at("index:fold-written")
        segment = IndexSegment(os.path.basename(segment_file)[: -len(".faiss")], segment_kind, segment_file,
                               codec_file, int(index.ntotal))  # fmt: skip
        change.put_segment(segment, base_members + [e.key for e in flat])
    _unlink(folder, retired)
    return FoldResult(len(flat), count, segment.id)


@dataclass(frozen=True)
class RebuildResult:
    works: int
    vectors: int
    nlist: int
    trained_on: int
    resumed_from: int  # vectors a previous, interrupted rebuild had already added
    removed_files: int


def rebuild(folder: str, store: Store, progress: Progress = quiet, checkpoint: int = CHECKPOINT,
            params: IndexParams = IndexParams()) -> RebuildResult:  # fmt: skip
    """Train a codec on the whole catalogue and put every work in one base segment;
    resumes an interrupted rebuild (see the module docstring). A catalogue within
    ``flat_limit`` needs no codec: every segment is dropped and all of it searched exactly."""
    state = store.visual_state()
    entries = [e for e in state.entries if e.vectors]
    total = sum(e.vectors for e in entries)
    if total <= params.flat_limit:
        with store.index_change() as change:
            now = change.state()
            retired = _drop_segments(change, now)
            retired += [f for f in (now.codec, change.meta("rebuild_codec")) if f]
            for key in ("index_codec", "index_trained_on", "index_trained_for", *REBUILD_KEYS):
                change.set_meta(key, None)
        _unlink(folder, retired)
        return RebuildResult(len(entries), total, 0, 0, 0, collect_garbage(folder, store))
    codec_file = store.database.meta("rebuild_codec")
    if codec_file is None or not os.path.exists(os.path.join(folder, codec_file)):
        codec, trained_on = _train(folder, entries, progress)
        codec_file = _new_file(folder, "codec")
        ann.write(codec, os.path.join(folder, codec_file))
        with store.index_change() as change:
            change.set_meta("rebuild_codec", codec_file)
            change.set_meta("rebuild_trained_on", str(trained_on))
            change.set_meta("rebuild_partial", None)
    trained_on = int(store.database.meta("rebuild_trained_on") or 0)
    partial = json.loads(store.database.meta("rebuild_partial") or "null")
    if partial is not None and os.path.exists(os.path.join(folder, partial["file"])):
        index = ann.read(os.path.join(folder, partial["file"]))
        through, resumed = int(partial["through_key"]), int(index.ntotal)
    else:
        index = ann.read(os.path.join(folder, codec_file))
        through, resumed, partial = -1, 0, None
    nlist = ann.nlist_of(index)
    todo = [e for e in entries if e.key > through]
    done = resumed
    progress("add", done, total)
    since = 0
    for i, entry in enumerate(todo):
        done = _add_works(folder, index, [entry], progress, "add", done, total)
        since += entry.vectors
        if since >= checkpoint and i < len(todo) - 1:
            partial = _checkpoint(folder, store, index, entry.key, partial)
            since = 0
    final_file = _new_file(folder, "base")
    ann.write(index, os.path.join(folder, final_file))
    covered = {e.key for e in entries}
    retired = [] if partial is None else [partial["file"]]
    with store.index_change() as change:
        now = change.state()
        retired += _drop_segments(change, now)
        if now.codec and now.codec != codec_file:
            retired.append(now.codec)
        segment = IndexSegment(os.path.basename(final_file)[: -len(".faiss")], "base", final_file, codec_file,
                               int(index.ntotal))  # fmt: skip
        change.put_segment(segment, [e.key for e in now.entries if e.key in covered])
        change.set_meta("index_codec", codec_file)
        change.set_meta("index_trained_on", str(trained_on))
        change.set_meta("index_trained_for", str(total))
        for key in REBUILD_KEYS:
            change.set_meta(key, None)
    _unlink(folder, retired)
    removed = collect_garbage(folder, store)
    return RebuildResult(len(entries), total, nlist, trained_on, resumed, removed)


def _drop_segments(change, state: VisualState) -> list[str]:
    """Drop every segment of ``state`` (its works go back to the exact part, unless the same
    transaction puts them in a new one); returns their files, to delete after it commits."""
    for seg in state.segments:
        change.drop_segment(seg.id)
    return [seg.file for seg in state.segments]


def _checkpoint(folder: str, store: Store, index, through_key: int, previous: dict | None) -> dict:
    file = _new_file(folder, "partial")
    ann.write(index, os.path.join(folder, file))
    partial = {"file": file, "through_key": through_key}
    with store.index_change() as change:
        change.set_meta("rebuild_partial", json.dumps(partial))
    if previous is not None:
        _unlink(folder, [previous["file"]])
    hold_at("index:rebuild-checkpoint")
    return partial


def _unlink(folder: str, files: list[str]) -> None:
    for name in files:
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def collect_garbage(folder: str, store: Store, min_age_s: float = 3600.0) -> int:
    """Delete descriptor and index files the database does not name and that are older
    than ``min_age_s`` (younger ones may belong to a register or fold not yet committed)."""
    named = {os.path.normpath(n) for n in store.files_named()}
    partial = json.loads(store.database.meta("rebuild_partial") or "null")
    if partial:
        named.add(os.path.normpath(partial["file"]))
    removed = 0
    now = time.time()
    for sub in (vector_files.FOLDER, INDEX_FOLDER):
        for root, _, names in os.walk(os.path.join(folder, sub)):
            for name in names:
                path = os.path.join(root, name)
                rel = os.path.normpath(os.path.relpath(path, folder))
                if not (name.endswith((".rtv", ".faiss")) or name.endswith(".tmp")) or rel in named:
                    continue
                try:
                    if now - os.path.getmtime(path) >= min_age_s:
                        os.unlink(path)
                        removed += 1
                except OSError:
                    pass
    return removed


def status(store: Store, params: IndexParams = IndexParams()) -> dict:
    """What the index holds and whether it wants a rebuild (``reeltrace index status``)."""
    state: VisualState = store.visual_state()
    total = sum(e.vectors for e in state.entries)
    flat = sum(e.vectors for e in state.entries if e.segment is None)
    trained_for = int(store.database.meta("index_trained_for") or 0)
    return {
        "works": len(state.entries),
        "frames": sum(e.frames for e in state.entries),
        "vectors": total,
        "exact_vectors": flat,
        "segments": [{"id": s.id, "kind": s.kind, "vectors": s.vectors} for s in state.segments],
        "codec_trained_on": int(store.database.meta("index_trained_on") or 0),
        "codec_trained_for": trained_for,
        "rebuild_in_progress": store.database.meta("rebuild_codec") is not None,
        "rebuild_advised": bool(trained_for) and total > params.rebuild_ratio * trained_for,
    }
