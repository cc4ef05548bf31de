"""Files the service accepts and keeps: upload limits, type sniffing, safe names, allowed
server-side paths, and the frame cache (poster frames and match frames as JPEG).

Layout under the library folder::

    service.sqlite              accounts, jobs, results, matches (WAL)
    service/works/<token>/NAME  uploaded works (the work's source_path points here)
    service/queries/<token>/NAME uploaded scan queries, kept for match frames and reports
    service/cache/*.jpg         poster and match frames
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata

from ..media.container import MEDIA_SUFFIXES, MediaError, probe, walk_media
from ..media.limits import InputLimits
from ..report.evidence import grab_frame
from ..storage.files import atomic_write_bytes

DEFAULT_MAX_UPLOAD = 4 << 30  # 4 GiB
DEFAULT_LIMITS = InputLimits(max_duration_s=4 * 3600.0, max_pixels=4096 * 2304, max_seconds=30 * 60.0)
"""What one input may cost by default: 4 hours, a 4096x2304 picture, 30 minutes of decoding."""
SNIFF_BYTES = 4096


class FileRejected(Exception):
    """An input the service refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def sniff(head: bytes) -> str | None:
    """The container type from a file's first bytes (None: not a media container we read)."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WAVE"):
        return "avi" if head[8:12] == b"AVI " else "wav"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "mpeg-ps"
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "mpeg-ts"
    if len(head) >= 197 and head[4] == 0x47 and head[196] == 0x47:  # M2TS: 4-byte prefix + 188
        return "m2ts"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return "mpeg-audio"
    return None


def check_media(path: str, limits: InputLimits | None = None) -> str:
    """Sniff and probe a file; its container kind, or FileRejected: 415 when it is not
    media we read, 422 when it is over ``limits`` (duration, picture size). Video and
    audio-only files are both accepted: the library matches either by its picture or by
    its sound."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        raise FileRejected(404, "file not found") from None
    if not head:
        raise FileRejected(400, "the file is empty")
    kind = sniff(head)
    if kind is None:
        raise FileRejected(415, "unsupported file type: the content is not a known audio/video container")
    try:
        info = probe(path)  # a file with neither picture nor sound raises too
    except MediaError as err:
        raise FileRejected(415, f"unsupported file: {err}") from None
    except Exception:
        # A hostile file can make the demuxer fail in ways MediaError does not cover; it is
        # still a refused upload, not a server error.
        raise FileRejected(415, "unsupported file: the container could not be read") from None
    if limits is not None:
        try:
            limits.check(info)
        except MediaError as err:
            raise FileRejected(422, f"refused: {err}") from None
    return kind


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str | None, default: str = "upload") -> str:
    """A file name safe to create: no folders, no leading dots, only [A-Za-z0-9._-]."""
    name = (name or "").replace("\\", "/").split("/")[-1]
    stem, ext = os.path.splitext(name)
    if ext.lower() not in MEDIA_SUFFIXES:
        stem, ext = name, ""
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("_", stem).strip("._-")[:80] or default
    return stem + ext.lower()


def display_name(name: str | None) -> str:
    """The client's file name, for display only (base name, printable, bounded)."""
    name = (name or "upload").replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if c.isprintable())
    return name[:200] or "upload"


def new_upload_folder(root: str) -> str:
    folder = os.path.join(root, secrets.token_hex(8))
    os.makedirs(folder, exist_ok=False)
    return folder


def save_stream(fileobj, dest: str, max_bytes: int) -> int:
    """Copy an upload to ``dest`` (new file), refusing more than ``max_bytes`` (413)."""
    total = 0
    try:
        with open(dest, "xb") as out:
            while True:
                block = fileobj.read(1 << 20)
                if not block:
                    break
                total += len(block)
                if total > max_bytes:
                    raise FileRejected(413, f"upload too large: the limit is {max_bytes} bytes")
                out.write(block)
    except FileRejected:
        os.unlink(dest)
        raise
    return total


def resolve_allowed(path: str, roots: list[str]) -> str:
    """The real path of a server-side file if it lies inside an allowed root.

    Symlinks and ``..`` are resolved first, so neither can lead outside the roots.
    FileRejected: 403 when outside every root (or none is configured), 404 when missing.
    """
    if not path or "\x00" in path:
        raise FileRejected(400, "no path given")
    if not roots:
        raise FileRejected(403, "server-side paths are not enabled on this server")
    real = os.path.realpath(path)
    for root in roots:
        root_real = os.path.realpath(root)
        try:
            inside = os.path.commonpath([real, root_real]) == root_real
        except ValueError:
            inside = False
        if inside:
            if not os.path.isfile(real):
                raise FileRejected(404, "no such file under the allowed paths")
            return real
    raise FileRejected(403, "path is outside the folders this server allows")


def list_allowed(roots: list[str], limit: int = 500) -> list[str]:
    """Media files under the allowed roots (sorted, no hidden files), at most ``limit``.

    Only files that ``resolve_allowed`` would accept are listed: a symlink that leads
    outside every root is left out (it would be refused on use, and its name tells of a
    file elsewhere on the server)."""
    out: list[str] = []
    for root in roots:
        for path in walk_media(os.path.realpath(root), 10 * limit):
            try:
                resolve_allowed(path, roots)
            except FileRejected:
                continue
            out.append(path)
            if len(out) >= limit:
                return out
    return out


class FrameCache:
    """JPEG frames of media files at given times, cached under ``folder``."""

    def __init__(self, folder: str):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)

    def get(self, path: str, t: float, width: int = 320) -> bytes | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = f"{os.path.realpath(path)}|{st.st_mtime_ns}|{st.st_size}|{t:.3f}|{width}"
        cached = os.path.join(self.folder, hashlib.sha1(key.encode()).hexdigest() + ".jpg")
        if os.path.exists(cached):
            with open(cached, "rb") as fh:
                return fh.read()
        data = grab_frame(path, t, width)
        if data is None:
            return None
        atomic_write_bytes(cached, data)
        return data
