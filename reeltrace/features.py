"""Features files: a work's picture descriptors and audio fingerprint, without the work.

``reeltrace extract MEDIA... --output DIR`` writes one ``.npz`` per input; ``reeltrace
register`` accepts those files (and folders of them) as it accepts media, at the speed of
a database write. This is the seam for registering on many machines: extraction (decode,
embed, fingerprint) is the expensive, parallel part; registering is one write.

Arrays (NumPy ``.npz``, no pickles):

* ``timestamps`` float32 (n,): seconds of each sampled frame;
* ``descriptors`` float32 (n, d): the model's L2-normalised output for those frames;
* ``audio_hashes`` uint32 (m,), ``audio_times`` float32 (m,): the landmark fingerprint
  (absent without usable sound);
* ``audio_codes`` uint32 (k,): the spectral-shape codes (``audio.codes``; absent in files
  written before them, and then the work has none);
* ``meta``: a 0-d string array holding JSON with ``format`` (``FORMAT``), ``model``,
  ``dim``, ``sample_fps``, ``content_hash`` (SHA-256 of the source file), ``duration``,
  ``fingerprint_version``, ``title`` (the source file's name), ``source_path`` and
  ``reeltrace`` (the version that wrote it).

A features file is input like any upload: ``read`` checks every field and raises a one-line
``MediaError`` for anything malformed, out of range or from another model or sampling rate.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .audio.records import AudioFingerprint
from .media.container import MediaError
from .roundtrip import Record

FORMAT = "reeltrace-features/1"
SUFFIX = ".npz"
_HASH = re.compile(r"[0-9a-f]{64}")  # fullmatch: "$" would let a final newline through
MAX_FRAMES = 1 << 24  # the index's FRAME_BITS: 2,300 hours at 2 frames/s


@dataclass
class FeaturesFile(Record):
    timestamps: np.ndarray  # (n,) float32
    descriptors: np.ndarray  # (n, d) float32, unit rows
    audio: AudioFingerprint | None
    meta: dict = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return self.meta["content_hash"]

    @property
    def duration(self) -> float:
        return float(self.meta["duration"])


def is_features_file(path: str) -> bool:
    return path.lower().endswith(SUFFIX)


def write(path: str, features: FeaturesFile) -> None:
    """Write ``features`` as an uncompressed ``.npz`` at ``path`` (a file object or path)."""
    arrays = {
        "timestamps": np.asarray(features.timestamps, np.float32),
        "descriptors": np.asarray(features.descriptors, np.float32),
        "meta": np.array(json.dumps({"format": FORMAT, **features.meta}, sort_keys=True)),
    }
    if features.audio is not None:
        arrays["audio_hashes"] = np.asarray(features.audio.hashes, np.uint32)
        arrays["audio_times"] = np.asarray(features.audio.times, np.float32)
        if len(features.audio.codes):
            arrays["audio_codes"] = np.asarray(features.audio.codes, np.uint32)
    np.savez(path, **arrays)


def _declared_bytes(npz, name: str) -> int:
    """Bytes that the ``.npy`` header of member ``name`` declares (0 where it cannot be read:
    loading it then fails with its own error)."""
    try:
        with npz.zip.open(name + ".npy") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
        return int(np.prod(shape, dtype=np.float64) * dtype.itemsize)
    except (KeyError, AttributeError, ValueError, OSError, zipfile.BadZipFile, EOFError):
        return 0


def _array(npz, name: str, dtype, ndim: int, max_bytes: int | None = None, exact: bool = False) -> np.ndarray:
    if name not in npz.files:
        raise MediaError(f"features file has no {name!r} array")
    if max_bytes is not None:
        try:
            size = npz.zip.getinfo(name + ".npy").file_size
        except (KeyError, AttributeError):
            size = 0
        # The member's size and the shape its header declares, which numpy allocates
        # before reading: a few bytes declaring 10^12 elements would ask for terabytes.
        size = max(size, _declared_bytes(npz, name))
        if size > max_bytes:
            raise MediaError(f"features file's {name!r} holds {size:,} bytes, more than its duration allows")
    try:
        array = npz[name]
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, MemoryError) as err:
        raise MediaError(f"features file's {name!r} array is unreadable ({str(err).splitlines()[0][:80]})") from None
    if not isinstance(array, np.ndarray):  # a member that is not an .npy comes back as its bytes
        raise MediaError(f"features file's {name!r} array is unreadable (not an .npy member)")
    if exact and array.dtype != np.dtype(dtype):
        raise MediaError(f"features file's {name!r} must be {np.dtype(dtype).name}, not {array.dtype}")
    if array.ndim != ndim or array.dtype.kind not in np.dtype(dtype).kind:
        raise MediaError(f"features file's {name!r} must be a {ndim}-d {np.dtype(dtype).name} array, not "
                         f"{array.ndim}-d {array.dtype}")  # fmt: skip
    return array.astype(dtype, copy=False)


def read(path: str, model: str, dim: int, sample_fps: float, fingerprint_version: int) -> FeaturesFile:
    """The features file at ``path``, checked against the library it is registered into."""
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise MediaError(f"not a reeltrace features file ({str(err).splitlines()[0][:80] if str(err) else 'unreadable'})") from None
    if not hasattr(npz, "files"):
        raise MediaError("not a reeltrace features file (a single array, not an .npz archive)")
    with npz:
        raw = _array(npz, "meta", np.str_, 0)
        try:
            meta = json.loads(str(raw))
        except ValueError:
            raise MediaError("features file's meta is not JSON") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise MediaError(f"features file's format is {meta.get('format') if isinstance(meta, dict) else None!r}, "
                             f"not {FORMAT!r}")  # fmt: skip
        _check_meta(meta, model, dim, sample_fps)
        # Members are bounded before they are read: a small compressed file can declare a
        # huge array. A second holds sample_fps frames and at most ~200 landmarks.
        frames = int(float(meta["duration"]) * sample_fps) + 16
        times = _array(npz, "timestamps", np.float32, 1, 256 + 8 * frames)
        vectors = _array(npz, "descriptors", np.float32, 2, 256 + 8 * frames * dim)
        audio = None
        if "audio_hashes" in npz.files or "audio_times" in npz.files:
            landmarks = int(float(meta["duration"]) * 1000) + 1024
            hashes = _array(npz, "audio_hashes", np.uint32, 1, 256 + 8 * landmarks, exact=True)
            anchor = _array(npz, "audio_times", np.float32, 1, 256 + 8 * landmarks)
            if len(hashes) != len(anchor):
                raise MediaError("features file's audio_hashes and audio_times differ in length")
            if meta.get("fingerprint_version") != fingerprint_version:
                raise MediaError(f"features file's audio fingerprint is version {meta.get('fingerprint_version')!r}; "
                                 f"this reeltrace reads version {fingerprint_version}: extract it again")  # fmt: skip
            if len(anchor) and (not np.isfinite(anchor).all() or anchor.min() < 0):
                raise MediaError("features file's audio_times must be finite and not negative")
            if len(anchor) and float(anchor.max()) > float(meta["duration"]) + 1.0:
                raise MediaError("features file's audio_times run past its duration")
            codes = np.zeros(0, np.uint32)
            if "audio_codes" in npz.files:  # one code per 64 ms
                codes = _array(npz, "audio_codes", np.uint32, 1, 256 + 4 * (int(float(meta["duration"]) * 16) + 16), exact=True)
            if len(hashes):  # an empty fingerprint is no sound, as for a silent recording
                audio = AudioFingerprint(hashes, anchor, float(meta["duration"]), codes=codes)
    if len(times) != len(vectors):
        raise MediaError(f"features file has {len(times)} timestamps but {len(vectors)} descriptors")
    if len(times) > MAX_FRAMES:
        raise MediaError(f"features file has {len(times)} frames; at most {MAX_FRAMES} are allowed")
    if len(vectors) and vectors.shape[1] != dim:
        raise MediaError(f"features file's descriptors have {vectors.shape[1]} dimensions; the model gives {dim}")
    if len(times):
        if not np.isfinite(times).all() or times.min() < 0 or np.any(np.diff(times) <= 0):
            raise MediaError("features file's timestamps must be finite, not negative and increasing")
        if not np.isfinite(vectors).all():
            raise MediaError("features file's descriptors must be finite")
        norms = np.linalg.norm(vectors, axis=1)
        if np.abs(norms - 1).max() > 1e-2:
            raise MediaError("features file's descriptors must be L2-normalised (the model's output)")
        if float(times[-1]) > float(meta["duration"]) + 1.0:
            raise MediaError("features file's timestamps run past its duration")
    if not len(times) and audio is None:
        raise MediaError("features file has no descriptors and no audio fingerprint")
    return FeaturesFile(times, vectors, audio, meta)


def _check_meta(meta: dict, model: str, dim: int, sample_fps: float) -> None:
    if not isinstance(meta.get("content_hash"), str) or not _HASH.fullmatch(meta["content_hash"]):
        raise MediaError("features file's content_hash must be 64 lowercase hex digits (SHA-256)")
    duration = meta.get("duration")
    if not isinstance(duration, (int, float)) or isinstance(duration, bool) or not 0 < duration < 1e7:
        raise MediaError("features file's duration must be a positive number of seconds")
    if meta.get("model") != model:
        raise MediaError(f"features file was extracted with model {meta.get('model')!r}; this library uses {model!r}")
    if meta.get("dim") != dim:
        raise MediaError(f"features file's dim is {meta.get('dim')!r}; the model gives {dim}")
    fps = meta.get("sample_fps")
    if not isinstance(fps, (int, float)) or abs(float(fps) - sample_fps) > 1e-6:
        raise MediaError(f"features file was sampled at {fps!r} frames/s; this library samples {sample_fps:g}/s")
    for key in ("title", "source_path"):
        if key in meta and not isinstance(meta[key], str):
            raise MediaError(f"features file's {key} must be a string")
