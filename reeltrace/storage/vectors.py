"""Work descriptor files: one immutable file per work, read by memory map.

The library's frame descriptors live here, not in SQLite: re-ranking an index shortlist
reads a few hundred scattered 256-byte rows of many works per query, which a memory map
serves from the page cache and a database blob cannot. The database names each file and
its checksum in the same transaction as the work (``store``), so a file the database does
not name is an orphan of a killed register (removed by ``reeltrace index rebuild``), and a
named file is complete: it is written to a temporary name, flushed and renamed before the
transaction that names it commits.

Layout: ``RTV1`` magic, a little-endian uint32 header length, a JSON header (dtypes,
shapes, byte offsets, the code's name), then the arrays at 64-byte aligned offsets.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct

import numpy as np

from ..video.records import StoredFrames
from ..media.container import file_hash
from .files import atomic_write

MAGIC = b"RTV1"
_ARRAYS = (("times", np.float32), ("starts", np.uint32), ("codes", np.uint8))
FOLDER = "vectors"


class VectorFileError(Exception):
    """A descriptor file that is missing, truncated or not one."""


def new_name(content_hash: str) -> str:
    """A fresh relative file name for a work: a random part, so that a work removed and
    registered again never shares a file with its old self while the old one is deleted."""
    return os.path.join(FOLDER, content_hash[:2], f"{content_hash[:16]}-{secrets.token_hex(4)}.rtv")


def write(path: str, frames: StoredFrames) -> str:
    """Write ``frames`` at ``path`` (atomically, flushed to disk); returns its SHA-256."""
    arrays = {name: np.ascontiguousarray(getattr(frames, name), dtype) for name, dtype in _ARRAYS}
    header: dict = {"code": frames.code, "arrays": {}}
    offset = 0
    for name, array in arrays.items():
        header["arrays"][name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
        offset += -(-array.nbytes // 64) * 64
    head = json.dumps(header, sort_keys=True).encode()
    start = -(-(8 + len(head)) // 64) * 64
    digest = hashlib.sha256()

    def save(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            blob = MAGIC + struct.pack("<I", len(head)) + head
            blob += b"\0" * (start - len(blob))
            fh.write(blob)
            digest.update(blob)
            for array in arrays.values():
                data = array.tobytes() + b"\0" * (-array.nbytes % 64)
                fh.write(data)
                digest.update(data)
            fh.flush()
            os.fsync(fh.fileno())

    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, save)
    return digest.hexdigest()


def read(path: str) -> StoredFrames:
    """The work's frames, as read-only memory-mapped views of the file."""
    try:
        with open(path, "rb") as fh:
            lead = fh.read(8)
            if len(lead) != 8 or lead[:4] != MAGIC:
                raise VectorFileError(f"{path}: not a reeltrace descriptor file")
            (length,) = struct.unpack("<I", lead[4:])
            header = json.loads(fh.read(length))
        start = -(-(8 + length) // 64) * 64
        size = os.path.getsize(path)
        out = {}
        for name, _ in _ARRAYS:
            spec = header["arrays"][name]
            shape = tuple(spec["shape"])
            dtype = np.dtype(spec["dtype"])
            nbytes = int(np.prod(shape)) * dtype.itemsize
            if start + spec["offset"] + nbytes > size:
                raise VectorFileError(f"{path}: truncated")
            if nbytes == 0:
                out[name] = np.zeros(shape, dtype)
            else:
                out[name] = np.memmap(path, dtype, "r", start + spec["offset"], shape)
        return StoredFrames(out["times"], out["starts"], out["codes"], header["code"])
    except (OSError, ValueError, KeyError) as err:
        raise VectorFileError(f"{path}: {err}") from None


MERGE_ROWS = 128  # 32 KB of 4-bit codes


def read_rows(frames: StoredFrames, rows: np.ndarray) -> np.ndarray:
    """``frames.codes[rows]`` (``rows`` sorted, distinct) read with ``pread``, not through
    the memory map. Re-scoring reads a few rows in each of many works' files; through the
    map each row faulted in its page and the kernel's fault-around its neighbours (64 KB),
    all of it counted in the process's resident memory: 1.8 GB peak at 1,000 h, against
    0.8 GB when the pages were released after each search, which cost 0.1 s a search.
    Rows up to ``MERGE_ROWS`` apart are read as one span: a read's fixed cost (~6 us with
    its Python) is that of copying ~60 KB from the page cache."""
    codes = frames.codes
    rows = np.asarray(rows, np.int64)
    width = codes.shape[1] if codes.ndim == 2 else 0
    path = getattr(codes, "filename", None)
    if path is None or len(rows) == 0 or width == 0:
        return np.asarray(codes[rows])
    cut = np.flatnonzero(np.diff(rows) > MERGE_ROWS) + 1
    breaks = np.concatenate(([0], cut))  # first wanted row of each span
    ends = np.concatenate((cut, [len(rows)]))
    firsts = rows[breaks]
    counts = rows[ends - 1] - firsts + 1
    base = codes.offset
    fd = os.open(path, os.O_RDONLY)
    try:
        spans = [os.pread(fd, int(c) * width, base + int(f) * width) for f, c in zip(firsts.tolist(), counts.tolist())]
    finally:
        os.close(fd)
    data = b"".join(spans)
    if len(data) != int(counts.sum()) * width:
        raise VectorFileError(f"{path}: truncated")
    # Row i of the joined spans is file row firsts[k] + j for span k: index each wanted row.
    before = np.cumsum(counts) - counts
    span_of = np.repeat(np.arange(len(firsts)), ends - breaks)
    return np.frombuffer(data, np.uint8).reshape(-1, width)[before[span_of] + rows - firsts[span_of]]


def checksum(path: str) -> str:
    """SHA-256 of the file, as ``write`` returned it."""
    return file_hash(path)
