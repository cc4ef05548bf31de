"""Bad and awkward inputs: each bad item gets a one-line error and exit status 1 while the
rest of the batch is still processed; odd file names stay on one line; folders are walked."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3

import av
import mediagen
import numpy as np
import pytest
from helpers import UNRELATED, WORKS, check_clip_found, run_cli, work_ids

from reeltrace.bench.fuzz import break_sample_table, mp4_boxes
from reeltrace.library import CATALOGUE_FILE, Catalogue

WEIRD_NAME = "clip with spaces é 視頻\nsecond line.mp4"


def _display(path: str) -> str:
    """How the CLI must print our paths on one line: the newline escaped as \\n, spaces and
    letters of any script kept."""
    return path.replace("\n", "\\n")


# name -> (what the error must say, pytest marks)
BAD_INPUTS = {
    "corrupt": ("not a readable media file", ()),
    "truncated (index at the end)": ("not a readable media file", ()),
    "truncated (faststart)": ("truncated or corrupt", ()),
    "empty": ("empty file", ()),
    "text file": ("not a media file (text)", ()),
    "nonexistent": ("file not found", ()),
    "odd name, corrupt": ("not a readable media file", ()),
}


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, work_files) -> dict[str, str]:
    """One file (or missing path) per kind of bad input."""
    folder = tmp_path_factory.mktemp("bad inputs")
    rng = np.random.default_rng(99)
    paths = {name: str(folder / f"{i:02d} {name}.mp4") for i, name in enumerate(BAD_INPUTS)}
    with open(paths["corrupt"], "wb") as fh:
        fh.write(rng.bytes(200_000))
    # The generated works have their index (moov) at the end: 40% of the file has none.
    data = open(work_files["A"], "rb").read()
    with open(paths["truncated (index at the end)"], "wb") as fh:
        fh.write(data[: int(len(data) * 0.4)])
    faststart = mediagen.remux(work_files["A"], str(folder / "faststart.mp4"), faststart=True)
    data = open(faststart, "rb").read()
    with open(paths["truncated (faststart)"], "wb") as fh:
        fh.write(data[: int(len(data) * 0.4)])
    open(paths["empty"], "wb").close()
    paths["text file"] = str(folder / "notes.txt")
    with open(paths["text file"], "w", encoding="utf-8") as fh:
        fh.write("Minutes of the rights meeting.\n" * 40 + "These are not pictures.\n" * 40)
    paths["nonexistent"] = str(folder / "no such file.mp4")
    paths["odd name, corrupt"] = str(folder / ("corrupt " + WEIRD_NAME))
    with open(paths["odd name, corrupt"], "wb") as fh:
        fh.write(rng.bytes(50_000))
    return paths


def _error_lines(stderr: str) -> list[str]:
    return stderr.splitlines()


@pytest.fixture(scope="module")
def scan_batch(library, bad_inputs, short_query, unrelated_file):
    """One ``scan --format json`` of: the short query, every bad input, the unrelated video."""
    argv = [short_query[0], *bad_inputs.values(), unrelated_file]
    return argv, run_cli("--library", library, "scan", *argv, "--format", "json")


def test_scan_batch_with_bad_inputs_exits_1_and_processes_the_good_ones(scan_batch, short_query):
    """A batch with bad inputs exits 1, but has a result for every input, in order, and the
    good inputs before and after the bad ones get their full answers."""
    argv, res = scan_batch
    assert res.code == 1
    results = res.json()["results"]
    assert [r["query"] for r in results] == argv
    first, last = results[0], results[-1]
    assert first["error"] is None and last["error"] is None
    for truth in short_query[1][1:]:
        check_clip_found(first, truth)
    assert last["matches"] == []
    # One standard-error line per failed input, nothing else.
    failed = [r for r in results if r["error"]]
    assert len(_error_lines(res.err)) == len(failed)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=m) for n, (_, m) in BAD_INPUTS.items()], ids=list(BAD_INPUTS)
)
def test_scan_reports_a_one_line_error_for_each_bad_input(scan_batch, bad_inputs, name):
    """The bad input's result has a one-line error saying what is wrong and no matches, and
    standard error has the line "reeltrace: <path>: <error>" for it, on one line."""
    _, res = scan_batch
    path = bad_inputs[name]
    (result,) = [r for r in res.json()["results"] if r["query"] == path]
    assert result["error"], f"{name} was not reported as an error: {result}"
    assert "\n" not in result["error"] and "\r" not in result["error"]
    assert BAD_INPUTS[name][0] in result["error"]
    assert result["matches"] == []
    assert f"reeltrace: {_display(path)}: {result['error']}" in _error_lines(res.err)


REGISTER_BAD = [n for n in BAD_INPUTS if n != "text file"]  # that one: test_register_refuses_a_text_file


@pytest.fixture(scope="module")
def register_batch(tmp_path_factory, copy_library, library, bad_inputs, unrelated_file):
    """One ``register`` of the bad inputs and the unrelated video, into a copy of the
    shared library."""
    lib = copy_library(library, str(tmp_path_factory.mktemp("register batch") / "library"))
    res = run_cli("--library", lib, "register", *(bad_inputs[n] for n in REGISTER_BAD), unrelated_file)
    return lib, res


def test_register_batch_with_bad_inputs_registers_only_the_good_one(register_batch, unrelated_file):
    """Registering a batch with bad inputs exits 1 and still registers the good file after
    them; no bad input becomes a work."""
    lib, res = register_batch
    assert res.code == 1
    assert res.out.splitlines()[-1].endswith(f"\tregistered\t{unrelated_file}")
    ids = work_ids(lib)
    assert ids[: len(WORKS)] == [s.work_id for s in WORKS.values()]
    assert len(ids) == len(WORKS) + 1, f"bad inputs were registered: {ids}"
    works = run_cli("--library", lib, "works", "--format", "json").json()["works"]
    assert works[-1]["source_path"] == os.path.abspath(unrelated_file)
    assert works[-1]["duration"] == pytest.approx(UNRELATED.duration, abs=0.6)


@pytest.mark.parametrize("name", REGISTER_BAD)
def test_register_reports_a_one_line_error_for_each_bad_input(register_batch, bad_inputs, name):
    """register prints "reeltrace: <path>: <reason>" on one line for each bad input."""
    _, res = register_batch
    path = bad_inputs[name]
    lines = [line for line in _error_lines(res.err) if line.startswith(f"reeltrace: {_display(path)}: ")]
    assert len(lines) == 1, f"{name}: {res.err!r}"
    assert BAD_INPUTS[name][0] in lines[0]
    assert _display(path) not in res.out


def test_audio_only_files_are_registered_and_scanned_by_their_sound(library_copy, tmp_path):
    """Audio-only files are not errors (since audio support): an AAC one registers as a work
    with sound and no picture; a PCM WAV of the same tune then finds it, by sound, over its
    length, while a WAV of another tune finds nothing. (Until audio support they were the
    error "no video stream".)"""
    m4a = mediagen.write_audio_only(str(tmp_path / "tune.m4a"), 8.0, seed=1)
    same = mediagen.write_audio_only(str(tmp_path / "same tune.wav"), 8.0, codec="pcm_s16le", seed=1)
    other = mediagen.write_audio_only(str(tmp_path / "other tune.wav"), 8.0, codec="pcm_s16le", seed=2)
    reg = run_cli("--library", library_copy, "register", m4a, "--id", "tune")
    assert reg.code == 0, reg.err
    work = run_cli("--library", library_copy, "works", "--format", "json").json()["works"][-1]
    assert (work["work_id"], work["has_video"], work["has_audio"], work["frames"]) == ("tune", False, True, 0)
    assert work["duration"] == pytest.approx(8.0, abs=0.1)
    res = run_cli("--library", library_copy, "scan", same, other, "--format", "json")
    assert res.code == 0, res.err
    found, clean = res.json()["results"]
    assert found["error"] is None and clean["error"] is None
    assert [(m["work_id"], m["modality"]) for m in found["matches"]] == [("tune", "audio")]
    best = max(found["matches"][0]["segments"], key=lambda s: s["score"])
    assert best["query_start"] <= 1.0 and best["query_end"] >= 7.0
    assert abs(best["work_start"] - best["query_start"]) <= 0.5
    assert clean["matches"] == []


def test_register_refuses_a_text_file(library_copy, bad_inputs):
    """A text file is not a video: register gives a one-line error, exit 1, and adds nothing."""
    res = run_cli("--library", library_copy, "register", bad_inputs["text file"])
    assert work_ids(library_copy) == [s.work_id for s in WORKS.values()]
    assert res.code == 1
    assert res.err.count("\n") == 1


# -- odd file names -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weird_copy(tmp_path_factory, short_query) -> str:
    """The short query under a name with spaces, non-ASCII letters and a newline."""
    path = str(tmp_path_factory.mktemp("names") / WEIRD_NAME)
    shutil.copyfile(short_query[0], path)
    return path


def test_odd_file_name_is_scanned_and_kept_exact_in_json(library, weird_copy, short_report):
    res = run_cli("--library", library, "scan", weird_copy, "--format", "json")
    assert res.code == 0, res.err
    (result,) = res.json()["results"]
    assert result["query"] == weird_copy
    assert result["matches"] == short_report["results"][0]["matches"]


def test_odd_file_name_round_trips_through_csv(library, weird_copy):
    res = run_cli("--library", library, "scan", weird_copy, "--format", "csv")
    assert res.code == 0, res.err
    rows = list(csv.DictReader(io.StringIO(res.out)))
    assert rows and all(r["query"] == weird_copy for r in rows)


def test_odd_file_name_stays_on_one_line_in_the_table(library, weird_copy, short_report):
    """In the table report each query's header line is one line, whatever its name holds."""
    res = run_cli("--library", library, "scan", weird_copy)
    assert res.code == 0, res.err
    (result,) = short_report["results"]
    # the query, per work its line and its segments' header, the segments, the summary
    n_lines = 1 + 2 * len(result["matches"]) + sum(len(m["segments"]) for m in result["matches"]) + 1
    assert len(res.out.splitlines()) == n_lines, res.out


def test_odd_file_name_register_prints_one_line(tmp_path, weird_copy):
    """register prints one line for a file whose name has a newline (shown as \\n)."""
    res = run_cli("--library", str(tmp_path / "lib"), "register", weird_copy)
    assert res.code == 0, res.err
    assert res.out.count("\n") == 1
    assert res.out.rstrip("\n").split("\t")[1:] == ["registered", _display(weird_copy)]


def test_odd_file_name_work_is_listed_on_one_line(tmp_path, weird_copy):
    lib = str(tmp_path / "lib")
    assert run_cli("--library", lib, "register", weird_copy).code == 0
    res = run_cli("--library", lib, "works")
    assert len(res.out.splitlines()) == 2, res.out


# -- folders ------------------------------------------------------------------------------


def test_scan_walks_a_folder(library, tmp_path, short_query, unrelated_file):
    """A folder given to scan is walked: its media files (by suffix, any case, in
    subfolders, sorted) are scanned; hidden files and folders and non-media files are not."""
    top = tmp_path / "uploads"
    (top / "sub" / ".hidden").mkdir(parents=True)
    shutil.copyfile(unrelated_file, top / "UPPER.MP4")
    shutil.copyfile(unrelated_file, top / "z clean.mp4")
    shutil.copyfile(short_query[0], top / "sub" / "a reuse.mkv")
    shutil.copyfile(short_query[0], top / "sub" / ".hidden" / "secret.mp4")
    shutil.copyfile(short_query[0], top / ".dotfile.mp4")
    (top / "notes.txt").write_text("not media\n" * 100)
    res = run_cli("--library", library, "scan", str(top), "--format", "json")
    assert res.code == 0, res.err
    results = res.json()["results"]
    found = [os.path.relpath(r["query"], top) for r in results]
    assert found == ["UPPER.MP4", "z clean.mp4", os.path.join("sub", "a reuse.mkv")]
    assert results[0]["matches"] == [] and results[1]["matches"] == []
    assert {m["work_id"] for m in results[2]["matches"]} == {"work-a", "work-b"}


def test_scan_of_an_empty_folder_says_so(library, tmp_path):
    """A folder with no media is that input's one-line error (exit 1), not a silent success;
    JSON keeps its shape."""
    (tmp_path / "empty").mkdir()
    res = run_cli("--library", library, "scan", str(tmp_path / "empty"), "--format", "json")
    assert res.code == 1, res.err
    assert res.err.count("\n") == 1 and "no media files in this folder" in res.err
    assert json.loads(res.out) == {"results": []}
    table = run_cli("--library", library, "scan", str(tmp_path / "empty"))
    assert (table.code, table.out) == (1, "")


# -- a damaged sample table (issue 21) ------------------------------------------------------


def _broken_sample_table(source: str, dest: str) -> str:
    """``source`` with its video track's ``stbl`` box size set to 1 and the entry count of its
    ``stsz`` moved by one. Size 1 means "a 64-bit size follows", so FFmpeg reads the first
    child's header as the size, gives up on the sample table and opens the file anyway, with
    a video stream that has no codec: ``probe`` used to raise AttributeError on its missing
    codec context, and the whole batch died with a traceback."""
    with open(source, "rb") as fh:
        data = fh.read()
    boxes = mp4_boxes(data)

    def inside(box, outer):
        return box.path[: len(outer.path)] == outer.path and outer.start <= box.start < outer.end

    tracks = [b for b in boxes if b.path == (b"moov", b"trak")]
    # hdlr: size, type, version and flags, pre_defined, then the handler type.
    (video,) = [t for t in tracks for h in boxes if h.kind == b"hdlr" and inside(h, t) and data[h.start + 16 : h.start + 20] == b"vide"]  # fmt: skip
    (stbl,) = [b for b in boxes if b.kind == b"stbl" and inside(b, video)]
    (stsz,) = [b for b in boxes if b.kind == b"stsz" and inside(b, stbl)]
    with open(dest, "wb") as fh:
        fh.write(break_sample_table(data, stbl, stsz, count_delta=1, stbl_size=1))
    with av.open(dest) as container:  # still opens, as the probe found it
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert container.streams.video[0].codec_context is None
    return dest


@pytest.fixture(scope="module")
def broken_sample_table(tmp_path_factory, work_files) -> str:
    folder = tmp_path_factory.mktemp("broken stbl")
    return _broken_sample_table(work_files["A"], str(folder / "broken stbl.mp4"))


def test_a_damaged_sample_table_is_one_input_error_in_a_scanned_folder(library, tmp_path, broken_sample_table,
                                                                       short_query, unrelated_file):  # fmt: skip
    """A folder with the damaged file between two good ones: JSON for all three, the good
    ones fully answered, one one-line error for the damaged one (on stderr and in its
    result), exit status 1."""
    top = tmp_path / "batch"
    top.mkdir()
    shutil.copyfile(short_query[0], top / "a reuse.mp4")
    shutil.copyfile(broken_sample_table, top / "b broken stbl.mp4")
    shutil.copyfile(unrelated_file, top / "c clean.mp4")
    res = run_cli("--library", library, "scan", str(top), "--format", "json")
    assert res.code == 1, res.err
    reuse, broken, clean = res.json()["results"]
    assert [reuse["query"], broken["query"], clean["query"]] == [str(top / n) for n in ("a reuse.mp4", "b broken stbl.mp4", "c clean.mp4")]  # fmt: skip
    assert reuse["error"] is None and clean["error"] is None
    for truth in short_query[1][1:]:
        check_clip_found(reuse, truth)
    assert clean["matches"] == []
    assert broken["matches"] == [] and "video stream has no known codec" in broken["error"]
    assert _error_lines(res.err) == [f"reeltrace: {broken['query']}: {broken['error']}"]


def test_a_damaged_sample_table_does_not_stop_register(library_copy, broken_sample_table, unrelated_file):
    """register bad good: the good file is registered after the damaged one's one-line error."""
    res = run_cli("--library", library_copy, "register", broken_sample_table, unrelated_file)
    assert res.code == 1
    assert _error_lines(res.err) == [f"reeltrace: {broken_sample_table}: video stream has no known codec (damaged or unsupported)"]  # fmt: skip
    (line,) = res.out.splitlines()
    assert line.endswith(f"\tregistered\t{unrelated_file}")
    assert work_ids(library_copy) == [*(s.work_id for s in WORKS.values()), line.split("\t")[0]]


def _catalogue(library: str) -> Catalogue | None:
    """The shared library's PostgreSQL catalogue (``REELTRACE_TEST_CATALOGUE=postgres``), if so."""
    named = os.path.join(library, CATALOGUE_FILE)
    return Catalogue.read(named) if os.path.exists(named) else None


def _newer_schema(library: str) -> str:
    catalogue = _catalogue(library)
    if catalogue is None:
        with sqlite3.connect(os.path.join(library, "library.sqlite")) as db:
            db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    else:
        import psycopg

        with psycopg.connect(catalogue.location, autocommit=True) as db:
            db.execute(f"UPDATE {catalogue.namespace}.meta SET value = '999' WHERE key = 'schema_version'")
    return "library was written by a newer reeltrace (schema 999)"


def _not_a_database(library: str) -> str:
    minutes = b"these are the minutes of the rights meeting, not a database\n" * 100
    if _catalogue(library) is not None:
        with open(os.path.join(library, CATALOGUE_FILE), "wb") as fh:
            fh.write(minutes)
        return f"{os.path.join(library, CATALOGUE_FILE)} is damaged: Expecting value: line 1 column 1 (char 0)"
    with open(os.path.join(library, "library.sqlite"), "wb") as fh:
        fh.write(minutes)
    for name in ("library.sqlite-wal", "library.sqlite-shm"):
        if os.path.exists(os.path.join(library, name)):
            os.remove(os.path.join(library, name))
    return "file is not a database"


@pytest.mark.parametrize("damage", [_newer_schema, _not_a_database], ids=["newer schema", "not a database"])
def test_a_library_fault_stops_the_command_with_one_line(library_copy, unrelated_file, damage):
    """Errors about the library itself are not an input's error: scan stops before any
    input, with one line and exit status 1 (a file that is not a database used to print
    sqlite3's traceback). With the catalogue on PostgreSQL, the same for a newer schema
    there and for a damaged ``catalogue.json``."""
    message = damage(library_copy)
    res = run_cli("--library", library_copy, "scan", unrelated_file, "--format", "json")
    assert (res.code, res.out) == (1, "")
    assert _error_lines(res.err) == [f"reeltrace: {message}"]
