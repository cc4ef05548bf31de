"""Features files: ``reeltrace extract MEDIA... --output DIR`` writes one ``.npz`` per input,
and ``reeltrace register`` takes those files (and folders of them) as it takes media.

Registering a features file must give the very work that registering its media gives, and a
features file is input like any other: a malformed, hostile or foreign one is one line on
standard error, exit status 1, and the rest of the batch goes on with nothing stored for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import zipfile

import mediagen
import numpy as np
import pytest
from helpers import run_cli

from reeltrace import __version__
from reeltrace import features as features_files
from reeltrace.audio.config import FINGERPRINT_VERSION
from reeltrace.report.formats import display
from reeltrace.video.embed import DEFAULT_MODEL

WORK_SECONDS = 20.0
WORK_SEED = 11
TUNE_SECONDS = 8.0
RATE = 48000


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _works(library: str) -> list[dict]:
    res = run_cli("--library", library, "works", "--format", "json")
    assert res.code == 0, res.err
    return res.json()["works"]


def _without_time(work: dict) -> dict:
    return {k: v for k, v in work.items() if k != "registered_at"}


def _scan(library: str, query: str) -> dict:
    res = run_cli("--library", library, "scan", query, "--format", "json")
    assert res.code == 0, res.err
    (result,) = res.json()["results"]
    assert result["error"] is None
    return result


def _same_matches(a: dict, b: dict) -> None:
    """The same works, modalities and segments (bounds within 0.01 s, scores within 1e-6)."""
    def kinds(result: dict) -> list[tuple[str, str]]:
        return [(m["work_id"], m["modality"]) for m in result["matches"]]

    assert kinds(a) == kinds(b)
    for ma, mb in zip(a["matches"], b["matches"]):
        assert ma["score"] == pytest.approx(mb["score"], abs=1e-6)
        assert len(ma["segments"]) == len(mb["segments"]), (ma, mb)
        for sa, sb in zip(ma["segments"], mb["segments"]):
            for key in ("query_start", "query_end", "work_start", "work_end"):
                assert sa[key] == pytest.approx(sb[key], abs=0.01), (key, sa, sb)
            assert sa["score"] == pytest.approx(sb["score"], abs=1e-6)
            assert sa["modality"] == sb["modality"]


def _lines_for(stderr: str, path: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"reeltrace: {display(path)}: ")]


_NOISE = re.compile(r"Traceback|array\(|dtype\(|<\w[\w.]* object at|\\n")


# -- media and the features extracted from them ----------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, str]:
    """A 20 s video with sound ("Work One.mp4"), a query reusing 10 s of it (picture cropped
    and recoloured, its sound as is), two different audio-only tunes both named tune.m4a in
    folders a/ and b/, a WAV of tune a, and two bad inputs: an empty .mp4 and a text .mp4."""
    folder = tmp_path_factory.mktemp("features media")
    work = str(folder / "Work One.mp4")
    mediagen.make_work(work, WORK_SEED, WORK_SECONDS, "noise", audio=True)
    query = str(folder / "query.mp4")
    sound = mediagen.tone(WORK_SECONDS, RATE, seed=WORK_SEED)[:, 4 * RATE : 14 * RATE]
    mediagen.build_query(query, [mediagen.Clip(work, 4.0, 10.0, mediagen.crop_and_colour)], audio=sound)
    os.makedirs(folder / "a")
    os.makedirs(folder / "b")
    tune_a = mediagen.write_audio_only(str(folder / "a" / "tune.m4a"), TUNE_SECONDS, seed=1)
    tune_b = mediagen.write_audio_only(str(folder / "b" / "tune.m4a"), TUNE_SECONDS, seed=2)
    tune_wav = mediagen.write_audio_only(str(folder / "tune a.wav"), TUNE_SECONDS, codec="pcm_s16le", seed=1)
    empty = str(folder / "empty.mp4")
    open(empty, "wb").close()
    text = str(folder / "notes.mp4")
    with open(text, "w", encoding="utf-8") as fh:
        fh.write("Minutes of the rights meeting.\n" * 80)
    return {"work": work, "query": query, "tune_a": tune_a, "tune_b": tune_b, "tune_wav": tune_wav,
            "empty": empty, "text": text}  # fmt: skip


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, media):
    """One ``extract`` of the work, the empty file, tune a, the text file and tune b (bad
    inputs between good ones): (output folder, CLI result)."""
    out = str(tmp_path_factory.mktemp("extracted") / "features")
    argv = [media["work"], media["empty"], media["tune_a"], media["text"], media["tune_b"]]
    return out, run_cli("extract", *argv, "--output", out)


@pytest.fixture(scope="module")
def npz(extracted, media) -> dict[str, str]:
    """The features file of each good input, by the name ``extract`` gave it."""
    out, _ = extracted
    return {
        "work": os.path.join(out, "Work One.npz"),
        "tune_a": os.path.join(out, "tune.npz"),
        "tune_b": os.path.join(out, f"tune-{_sha256(media['tune_b'])[:8]}.npz"),
    }


def _library_of(tmp_path_factory, name: str, path: str) -> str:
    lib = str(tmp_path_factory.mktemp(name) / "library")
    res = run_cli("--library", lib, "register", path)
    assert res.code == 0, res.err
    return lib


@pytest.fixture(scope="module")
def direct_library(tmp_path_factory, media) -> str:
    """A library with the work registered from its media file."""
    return _library_of(tmp_path_factory, "direct", media["work"])


@pytest.fixture(scope="module")
def npz_library(tmp_path_factory, npz) -> str:
    """A library with the work registered from its features file only."""
    return _library_of(tmp_path_factory, "from npz", npz["work"])


@pytest.fixture(scope="module")
def direct_scan(direct_library, media) -> dict:
    return _scan(direct_library, media["query"])


# -- extract -----------------------------------------------------------------------------------


def test_extract_writes_the_documented_features_file(extracted, npz, media):
    """Each good input gets "DIR/NAME.npz\\tN frames\\tSOURCE" on standard output and a
    features file that loads without pickles: float32 timestamps, float32 n x 512 unit-norm
    descriptors, uint32 hashes, float32 times and uint32 spectral-shape codes (one per 64 ms)
    for its sound, and the JSON meta with the format, the default model, the sampling rate, the source's SHA-256, duration, fingerprint
    version, file name, absolute path and the reeltrace version."""
    _, res = extracted
    lines = res.out.splitlines()
    assert len(lines) == 3, res.out
    assert lines[0] == f"{npz['work']}\t{WORK_SECONDS * 2:.0f} frames\t{media['work']}"
    with np.load(npz["work"], allow_pickle=False) as data:
        assert set(data.files) == {"timestamps", "descriptors", "audio_hashes", "audio_times", "audio_codes", "meta"}
        times, vectors = data["timestamps"], data["descriptors"]
        codes = data["audio_codes"]
        hashes, anchors, raw = data["audio_hashes"], data["audio_times"], data["meta"]
    assert codes.dtype == np.uint32 and len(codes) == pytest.approx(WORK_SECONDS / 0.064, abs=8)
    assert times.dtype == np.float32 and times.ndim == 1 and len(times) == WORK_SECONDS * 2
    assert np.all(np.diff(times) > 0) and times[0] >= 0 and times[-1] < WORK_SECONDS
    assert vectors.dtype == np.float32 and vectors.shape == (len(times), 512)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert hashes.dtype == np.uint32 and anchors.dtype == np.float32
    assert len(hashes) == len(anchors) > 100
    assert raw.shape == () and raw.dtype.kind == "U"
    meta = json.loads(str(raw))
    assert meta == {
        "format": features_files.FORMAT,
        "model": DEFAULT_MODEL,
        "dim": 512,
        "sample_fps": 2.0,
        "content_hash": _sha256(media["work"]),
        "duration": pytest.approx(WORK_SECONDS, abs=0.1),
        "fingerprint_version": FINGERPRINT_VERSION,
        "title": "Work One.mp4",
        "source_path": os.path.abspath(media["work"]),
        "reeltrace": __version__,
    }


def test_extract_batch_with_bad_inputs_reports_each_and_writes_the_good_ones(extracted, npz, media):
    """An empty file and a text file named .mp4 in an extract batch each get one line
    "reeltrace: PATH: reason" and exit status 1; the good inputs before, between and after
    them are all written, nothing is written for the bad ones and no temporary file is left."""
    out, res = extracted
    assert res.code == 1
    assert len(res.err.splitlines()) == 2, res.err
    (empty,) = _lines_for(res.err, media["empty"])
    assert "empty file" in empty
    (text,) = _lines_for(res.err, media["text"])
    assert "not a media file" in text or "not a readable media file" in text, text
    assert not _NOISE.search(res.err), res.err
    assert sorted(os.listdir(out)) == sorted(os.path.basename(p) for p in npz.values())


def test_inputs_with_the_same_name_in_different_folders_get_different_files(npz, media):
    """a/tune.m4a and b/tune.m4a are different recordings with the same file name: the
    first is written as tune.npz, the second beside it under a name with its content hash,
    and each file holds its own source's features."""
    a, b = npz["tune_a"], npz["tune_b"]
    assert a != b and os.path.isfile(a) and os.path.isfile(b)
    for path, source in ((a, media["tune_a"]), (b, media["tune_b"])):
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
        assert meta["content_hash"] == _sha256(source)
        assert meta["source_path"] == os.path.abspath(source)
    assert _sha256(a) != _sha256(b)


def test_extract_to_an_output_that_is_a_file_is_a_one_line_error(tmp_path, media):
    """``--output`` naming an existing file is one line on standard error and exit status 1,
    not a traceback, and the file is left alone."""
    target = tmp_path / "not a folder"
    target.write_bytes(b"keep me")
    res = run_cli("extract", media["tune_a"], "--output", str(target))
    assert res.code == 1
    assert len(res.err.splitlines()) == 1 and res.err.startswith("reeltrace: "), res.err
    assert target.read_bytes() == b"keep me"


# -- the same work, whether from the media or from its features --------------------------------


def test_registering_the_features_file_gives_the_same_work_as_the_media(direct_library, npz_library, npz, media):
    """The work registered from "Work One.npz" alone is the one registered from "Work One.mp4":
    the default id w + content_hash[:10], the title from the media's file name (not the
    features file's), duration, source, picture and sound, frame count."""
    res = run_cli("--library", npz_library, "register", npz["work"])
    assert res.code == 0, res.err
    (direct,) = _works(direct_library)
    (from_npz,) = _works(npz_library)
    digest = _sha256(media["work"])
    assert from_npz["work_id"] == "w" + digest[:10] and from_npz["content_hash"] == digest
    assert from_npz["title"] == "Work One"
    assert from_npz["has_video"] and from_npz["has_audio"]
    assert from_npz["frames"] == WORK_SECONDS * 2
    assert _without_time(from_npz) == _without_time(direct)


def test_a_query_finds_the_same_matches_in_both_libraries(npz_library, direct_scan, media):
    """Scanning a query that reuses 10 s of the work (picture and sound) gives, against the
    library built from the features file, exactly the matches it gives against the library
    built from the media: same work, modality, segment bounds and scores."""
    assert direct_scan["matches"], "the query should find the work"
    (match,) = direct_scan["matches"]
    assert match["modality"] == "audio+video"
    best = max(match["segments"], key=lambda s: s["score"])
    assert abs(best["work_start"] - 4.0) <= 1.5 and abs(best["work_end"] - 14.0) <= 1.5
    _same_matches(_scan(npz_library, media["query"]), direct_scan)


# -- registering folders and duplicates -------------------------------------------------------


def test_register_a_folder_of_features_files_then_again(tmp_path, extracted, npz, media):
    """``register DIR`` on extract's folder registers each features file in name order, and
    registering the folder again prints each id with "already registered" and adds nothing."""
    out, _ = extracted
    lib = str(tmp_path / "library")
    res = run_cli("--library", lib, "register", out)
    assert res.code == 0, res.err
    paths = sorted(npz.values())
    ids = ["w" + _sha256(media[key])[:10] for key in sorted(npz, key=lambda k: npz[k])]
    assert res.out.splitlines() == [f"{i}\tregistered\t{p}" for i, p in zip(ids, paths)]
    works = _works(lib)
    assert sorted(w["work_id"] for w in works) == sorted(ids)
    again = run_cli("--library", lib, "register", out)
    assert again.code == 0, again.err
    assert again.out.splitlines() == [f"{i}\talready registered\t{p}" for i, p in zip(ids, paths)]
    assert [_without_time(w) for w in _works(lib)] == [_without_time(w) for w in works]


def test_a_media_file_and_its_features_file_are_the_same_content(tmp_path, direct_library, npz_library, npz, media):
    """The media file registered, its features file is "already registered" under the same
    id, and the other way round; neither adds a second work. A folder holding both a media
    file and a features file registers both."""
    lib = str(tmp_path / "direct")
    shutil.copytree(direct_library, lib)
    work_id = "w" + _sha256(media["work"])[:10]
    res = run_cli("--library", lib, "register", npz["work"])
    assert (res.code, res.out) == (0, f"{work_id}\talready registered\t{npz['work']}\n"), res.err
    assert len(_works(lib)) == 1

    lib = str(tmp_path / "from npz")
    shutil.copytree(npz_library, lib)
    res = run_cli("--library", lib, "register", media["work"])
    assert (res.code, res.out) == (0, f"{work_id}\talready registered\t{media['work']}\n"), res.err
    assert len(_works(lib)) == 1

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copyfile(media["tune_a"], mixed / "1 tune a.m4a")
    shutil.copyfile(npz["tune_b"], mixed / "2 tune b.npz")
    res = run_cli("--library", lib, "register", str(mixed))
    assert res.code == 0, res.err
    assert [line.split("\t")[1:] for line in res.out.splitlines()] == [
        ["registered", str(mixed / "1 tune a.m4a")],
        ["registered", str(mixed / "2 tune b.npz")],
    ]
    assert len(_works(lib)) == 3


# -- audio only -------------------------------------------------------------------------------


def test_an_audio_only_input_extracts_and_registers_as_an_audio_only_work(tmp_path, npz, media):
    """tune.m4a (no picture) extracts to a features file with no frames but the sound's
    landmarks, registers as a work with sound and no picture, and a WAV of the same tune
    then finds it by sound."""
    with np.load(npz["tune_a"], allow_pickle=False) as data:
        assert data["timestamps"].shape == (0,)
        assert data["descriptors"].shape == (0, 512) and data["descriptors"].dtype == np.float32
        assert len(data["audio_hashes"]) == len(data["audio_times"]) > 50
        meta = json.loads(str(data["meta"]))
    assert meta["duration"] == pytest.approx(TUNE_SECONDS, abs=0.1)
    lib = str(tmp_path / "library")
    res = run_cli("--library", lib, "register", npz["tune_a"])
    assert res.code == 0, res.err
    (work,) = _works(lib)
    assert (work["title"], work["has_video"], work["has_audio"], work["frames"]) == ("tune", False, True, 0)
    assert work["duration"] == pytest.approx(TUNE_SECONDS, abs=0.1)
    found = _scan(lib, media["tune_wav"])
    assert [(m["work_id"], m["modality"]) for m in found["matches"]] == [(work["work_id"], "audio")]


# -- hostile features files -------------------------------------------------------------------


class _Mkdir:
    """Unpickling this makes the folder ``path``: the proof that something was unpickled."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _save(path: str, arrays: dict, meta=None, raw_meta=None) -> None:
    """An .npz of ``arrays`` with ``meta`` as the JSON string array (``raw_meta``: as given)."""
    arrays = dict(arrays)
    if meta is not None:
        arrays["meta"] = np.array(json.dumps(meta))
    if raw_meta is not None:
        arrays["meta"] = raw_meta
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _huge_header() -> bytes:
    """An .npy header that claims a (2**40, 512) float32 array, followed by 64 bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (2**40, 512)})
    return buf.getvalue() + bytes(64)


# name -> (what the one-line error must say, or None: only that it is one line naming the file)
HOSTILE = {
    "random bytes": "not a reeltrace features file",
    "truncated": "not a reeltrace features file",
    "bytes damaged inside": "unreadable",
    "single npy array": "single array",
    "pickled npy array": "not a reeltrace features file",
    "zip of garbage members": "unreadable",
    "claims a 2 PiB array": None,
    "no meta": "no 'meta' array",
    "meta not JSON": "meta is not JSON",
    "meta a JSON list": "format is None",
    "meta bytes": "'meta' must be a 0-d str",
    "meta pickled": "'meta' array is unreadable",
    "wrong format": "format is 'reeltrace-features/2'",
    "no format": "format is None",
    "wrong model": "extracted with model 'sscd'",
    "wrong sample_fps": "sampled at 1.0 frames/s",
    "wrong dim": "dim is 256",
    "descriptors of 256 dimensions": "descriptors have 256 dimensions",
    "content_hash short": "content_hash must be 64 lowercase hex",
    "content_hash uppercase": "content_hash must be 64 lowercase hex",
    "content_hash not hex": "content_hash must be 64 lowercase hex",
    "content_hash a number": "content_hash must be 64 lowercase hex",
    "no content_hash": "content_hash must be 64 lowercase hex",
    "duration negative": "duration must be a positive number",
    "duration zero": "duration must be a positive number",
    "duration NaN": "duration must be a positive number",
    "duration infinite": "duration must be a positive number",
    "duration huge": "duration must be a positive number",
    "duration a string": "duration must be a positive number",
    "duration true": "duration must be a positive number",
    "title a number": "title must be a string",
    "descriptors with NaN": "descriptors must be finite",
    "descriptors not unit norm": "L2-normalised",
    "descriptors of zeros": "L2-normalised",
    "descriptors integers": "'descriptors' must be a 2-d float32 array",
    "descriptors pickled": "'descriptors' array is unreadable",
    "descriptors 3-d": "'descriptors' must be a 2-d float32 array",
    "timestamps decreasing": "timestamps must be finite, not negative and increasing",
    "timestamps repeated": "timestamps must be finite, not negative and increasing",
    "timestamps negative": "timestamps must be finite, not negative and increasing",
    "timestamps NaN": "timestamps must be finite, not negative and increasing",
    "timestamps past the duration": "timestamps run past its duration",
    "timestamps 2-d": "'timestamps' must be a 1-d float32 array",
    "fewer timestamps than descriptors": "timestamps but",
    "no timestamps": "no 'timestamps' array",
    "no descriptors": "no 'descriptors' array",
    "audio_hashes without audio_times": "no 'audio_times' array",
    "audio_times without audio_hashes": "no 'audio_hashes' array",
    "audio lengths differ": "audio_hashes and audio_times differ in length",
    "audio_hashes signed": "'audio_hashes' must be uint32, not int64",
    "audio_codes signed": "'audio_codes' must be uint32, not int32",
    "audio_codes 2-d": "'audio_codes' must be a 1-d uint32 array",
    "audio_codes longer than the duration": "more than its duration allows",
    "audio_codes header claims 4 TB": "more than its duration allows",
    "audio_times NaN": "audio_times must be finite and not negative",
    "audio_times negative": "audio_times must be finite and not negative",
    "audio of another fingerprint version": f"version {FINGERPRINT_VERSION + 1!r}",
    "audio without a fingerprint version": "version None",
    "empty": "no descriptors and no audio fingerprint",
}


def _hostile(name: str, path: str, base: dict, meta: dict, markers: dict) -> None:
    """Write the hostile features file ``name`` at ``path``, built from the good ``base``
    arrays and ``meta`` (with a content hash of its own, so that nothing is 'already
    registered')."""
    meta = dict(meta, content_hash=hashlib.sha256(name.encode()).hexdigest())
    arrays = dict(base)
    times, vectors = base["timestamps"], base["descriptors"]
    rng = np.random.default_rng(len(name))

    def with_meta(**changes):
        _save(path, arrays, {**meta, **changes})

    def without_meta_key(key):
        _save(path, arrays, {k: v for k, v in meta.items() if k != key})

    def with_arrays(**changes):
        new = {**arrays, **changes}
        _save(path, {k: v for k, v in new.items() if v is not None}, meta)

    if name == "random bytes":
        with open(path, "wb") as fh:
            fh.write(rng.bytes(100_000))
    elif name in ("truncated", "bytes damaged inside"):
        _save(path, arrays, meta)
        with open(path, "rb") as fh:
            data = bytearray(fh.read())
        if name == "truncated":
            data = data[: len(data) // 2]
        else:
            middle = len(data) // 2  # inside the descriptors, by far the largest member
            data[middle : middle + 64] = rng.bytes(64)
        with open(path, "wb") as fh:
            fh.write(bytes(data))
    elif name == "single npy array":
        with open(path, "wb") as fh:
            np.save(fh, vectors)
    elif name == "pickled npy array":
        with open(path, "wb") as fh:
            fh.write(_npy_bytes(np.array([_Mkdir(markers[name])], dtype=object)))
    elif name == "zip of garbage members":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("meta.npy", _npy_bytes(np.array(json.dumps(meta))))
            zf.writestr("timestamps.npy", _npy_bytes(times))
            zf.writestr("descriptors.npy", b"not an array " * 400)
    elif name == "claims a 2 PiB array":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("meta.npy", _npy_bytes(np.array(json.dumps(meta))))
            zf.writestr("timestamps.npy", _npy_bytes(times))
            zf.writestr("descriptors.npy", _huge_header())
    elif name == "no meta":
        _save(path, arrays)
    elif name == "meta not JSON":
        _save(path, arrays, raw_meta=np.array("{'format': 'reeltrace-features/1',"))
    elif name == "meta a JSON list":
        _save(path, arrays, raw_meta=np.array(json.dumps([meta])))
    elif name == "meta bytes":
        _save(path, arrays, raw_meta=np.array(json.dumps(meta).encode()))
    elif name == "meta pickled":
        _save(path, arrays, raw_meta=np.array(_Mkdir(markers[name]), dtype=object))
    elif name == "wrong format":
        with_meta(format="reeltrace-features/2")
    elif name == "no format":
        without_meta_key("format")
    elif name == "wrong model":
        with_meta(model="sscd")
    elif name == "wrong sample_fps":
        with_meta(sample_fps=1.0)
    elif name == "wrong dim":
        with_meta(dim=256)
    elif name == "descriptors of 256 dimensions":
        part = vectors[:, :256] / np.linalg.norm(vectors[:, :256], axis=1, keepdims=True)
        with_arrays(descriptors=part.astype(np.float32))
    elif name.startswith("content_hash"):
        value = {
            "content_hash short": meta["content_hash"][:63],
            "content_hash uppercase": meta["content_hash"].upper(),
            "content_hash not hex": "g" * 64,
            "content_hash a number": 12345,
        }[name]
        with_meta(content_hash=value)
    elif name == "no content_hash":
        without_meta_key("content_hash")
    elif name.startswith("duration"):
        value = {
            "duration negative": -1.0,
            "duration zero": 0,
            "duration NaN": float("nan"),
            "duration infinite": float("inf"),
            "duration huge": 1e12,
            "duration a string": "20",
            "duration true": True,
        }[name]
        with_meta(duration=value)
    elif name == "title a number":
        with_meta(title=7)
    elif name == "descriptors with NaN":
        bad = vectors.copy()
        bad[3, 7] = np.nan
        with_arrays(descriptors=bad)
    elif name == "descriptors not unit norm":
        with_arrays(descriptors=vectors * 2)
    elif name == "descriptors of zeros":
        with_arrays(descriptors=np.zeros_like(vectors))
    elif name == "descriptors integers":
        with_arrays(descriptors=np.ones(vectors.shape, np.int64))
    elif name == "descriptors pickled":
        with_arrays(descriptors=np.array([_Mkdir(markers[name])], dtype=object))
    elif name == "descriptors 3-d":
        with_arrays(descriptors=vectors[:, None, :])
    elif name == "timestamps decreasing":
        with_arrays(timestamps=times[::-1].copy())
    elif name == "timestamps repeated":
        bad = times.copy()
        bad[5] = bad[4]
        with_arrays(timestamps=bad)
    elif name == "timestamps negative":
        with_arrays(timestamps=times - 1.0)
    elif name == "timestamps NaN":
        bad = times.copy()
        bad[-1] = np.nan
        with_arrays(timestamps=bad)
    elif name == "timestamps past the duration":
        with_arrays(timestamps=times + 100.0)
    elif name == "timestamps 2-d":
        with_arrays(timestamps=times[:, None])
    elif name == "fewer timestamps than descriptors":
        with_arrays(timestamps=times[:-1])
    elif name == "no timestamps":
        with_arrays(timestamps=None)
    elif name == "no descriptors":
        with_arrays(descriptors=None)
    elif name == "audio_hashes without audio_times":
        with_arrays(audio_times=None)
    elif name == "audio_times without audio_hashes":
        with_arrays(audio_hashes=None)
    elif name == "audio lengths differ":
        with_arrays(audio_times=base["audio_times"][:-1])
    elif name == "audio_hashes signed":
        with_arrays(audio_hashes=base["audio_hashes"].astype(np.int64))
    elif name == "audio_codes signed":
        with_arrays(audio_codes=base["audio_codes"].astype(np.int32))
    elif name == "audio_codes 2-d":
        with_arrays(audio_codes=base["audio_codes"][: len(base["audio_codes"]) // 2 * 2].reshape(-1, 2))
    elif name == "audio_codes longer than the duration":
        with_arrays(audio_codes=np.tile(base["audio_codes"], 40))
    elif name == "audio_codes header claims 4 TB":
        # A few bytes whose .npy header declares 10^12 codes: numpy would allocate them
        # before finding the data short.
        _save(path, {k: v for k, v in arrays.items() if k != "audio_codes"}, meta)
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<u4", "fortran_order": False, "shape": (10**12,)})
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("audio_codes.npy", header.getvalue() + bytes(16))
    elif name == "audio_times NaN":
        bad = base["audio_times"].copy()
        bad[0] = np.nan
        with_arrays(audio_times=bad)
    elif name == "audio_times negative":
        with_arrays(audio_times=base["audio_times"] - 100.0)
    elif name == "audio of another fingerprint version":
        with_meta(fingerprint_version=FINGERPRINT_VERSION + 1)
    elif name == "audio without a fingerprint version":
        without_meta_key("fingerprint_version")
    elif name == "empty":
        _save(path, {"timestamps": np.zeros(0, np.float32), "descriptors": np.zeros((0, 512), np.float32)}, meta)
    else:
        raise AssertionError(f"no recipe for {name!r}")


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory, npz) -> tuple[dict[str, str], dict[str, str]]:
    """Every hostile features file, built from the work's good one: (name -> path, and for
    the pickled ones: name -> the folder that unpickling them would make)."""
    folder = tmp_path_factory.mktemp("hostile")
    with np.load(npz["work"], allow_pickle=False) as data:
        base = {k: data[k] for k in data.files if k != "meta"}
        meta = json.loads(str(data["meta"]))
    markers = {n: str(folder / f"unpickled {i:02d}") for i, n in enumerate(HOSTILE) if "pickled" in n}
    paths = {}
    for i, name in enumerate(HOSTILE):
        paths[name] = str(folder / f"{i:02d} {name}.npz")
        _hostile(name, paths[name], base, meta, markers)
    return paths, markers


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory, direct_library, hostile_files, npz):
    """One ``register`` of every hostile file with tune a's good features file in the middle
    of them, into a copy of the library that holds the work: (library, works before, CLI
    result)."""
    lib = str(tmp_path_factory.mktemp("hostile batch") / "library")
    shutil.copytree(direct_library, lib)
    before = _works(lib)
    paths = list(hostile_files[0].values())
    half = len(paths) // 2
    res = run_cli("--library", lib, "register", *paths[:half], npz["tune_a"], *paths[half:])
    return lib, before, res


def test_a_batch_of_hostile_features_files_registers_only_the_good_one(hostile_batch, npz, media, direct_scan):
    """The batch exits 1 and prints one registered line, for the good file; the works are
    those before plus the good one, unchanged otherwise; no refused file left a descriptor
    file behind; and the library still finds the work as before."""
    lib, before, res = hostile_batch
    assert res.code == 1
    tune_id = "w" + _sha256(media["tune_a"])[:10]
    assert res.out == f"{tune_id}\tregistered\t{npz['tune_a']}\n", res.out
    after = _works(lib)
    assert [_without_time(w) for w in after[:-1]] == [_without_time(w) for w in before]
    assert [w["registered_at"] for w in after[:-1]] == [w["registered_at"] for w in before]
    assert after[-1]["work_id"] == tune_id and len(after) == len(before) + 1
    stored = [f for _, _, files in os.walk(os.path.join(lib, "vectors")) for f in files]
    assert len(stored) == sum(w["has_video"] for w in after), stored
    assert len(res.err.splitlines()) == len(HOSTILE), res.err
    assert "Traceback" not in res.err
    _same_matches(_scan(lib, media["query"]), direct_scan)


HOSTILE_CASES = list(HOSTILE)


@pytest.mark.parametrize("name", HOSTILE_CASES)
def test_each_hostile_features_file_is_one_line_naming_it(hostile_batch, hostile_files, name):
    """A hostile features file gets exactly one line "reeltrace: PATH: reason" on standard
    error, saying what is wrong in words (no traceback, no Python reprs), and is not
    registered."""
    _, _, res = hostile_batch
    path = hostile_files[0][name]
    lines = _lines_for(res.err, path)
    assert len(lines) == 1, f"{name}: {res.err}"
    assert not _NOISE.search(lines[0]), lines[0]
    assert len(lines[0]) < 400, lines[0]
    if HOSTILE[name] is not None:
        assert HOSTILE[name] in lines[0]
    assert display(path) not in res.out


def test_pickled_arrays_are_refused_without_being_unpickled(hostile_batch, hostile_files):
    """Registering features files whose arrays are pickles never unpickles them (their
    payload would have made a folder), while loading them with pickles allowed does: the
    payload was live."""
    assert hostile_batch[2].code == 1  # the batch has run
    paths, markers = hostile_files
    assert len(markers) == 3
    for name, marker in markers.items():
        assert not os.path.exists(marker), f"{name} was unpickled"
    for name, marker in markers.items():
        loaded = np.load(paths[name], allow_pickle=True)  # a bare .npy: the array, unpickled already
        for key in getattr(loaded, "files", []):
            loaded[key]
        assert os.path.exists(marker), name


def test_a_content_hash_with_a_final_newline_is_refused(tmp_path, direct_library, npz):
    """A content_hash of 64 hex digits and a newline is not a SHA-256: one line, exit 1,
    and only the good file after it is registered."""
    with np.load(npz["work"], allow_pickle=False) as data:
        base = {k: data[k] for k in data.files if k != "meta"}
        meta = json.loads(str(data["meta"]))
    bad = str(tmp_path / "newline.npz")
    _save(bad, base, dict(meta, content_hash=hashlib.sha256(b"newline").hexdigest() + "\n"))
    lib = str(tmp_path / "library")
    shutil.copytree(direct_library, lib)
    res = run_cli("--library", lib, "register", bad, npz["tune_a"])
    (line,) = _lines_for(res.err, bad)
    assert "content_hash must be 64 lowercase hex" in line
    assert res.code == 1
    assert len(_works(lib)) == 2
