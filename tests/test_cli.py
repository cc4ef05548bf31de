"""The catalogue commands (register, works, remove) and exit statuses, in-process through
``reeltrace.cli.main`` and once end to end in a child process."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest
from helpers import WORKS, run_cli, run_subprocess, segments_of, work_ids


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_register_prints_id_and_registering_again_adds_nothing(tmp_path, work_files):
    """register prints "<id>\\tregistered\\t<path>"; the default id comes from the content
    hash; registering the same file again, or a copy under another name, prints the same
    id with "already registered" and adds no second work."""
    lib = str(tmp_path / "lib")
    path = work_files["C"]
    first = run_cli("--library", lib, "register", path)
    assert first.code == 0, first.err
    work_id = "w" + _sha256(path)[:10]
    assert first.out == f"{work_id}\tregistered\t{path}\n"

    again = run_cli("--library", lib, "register", path)
    assert again.code == 0, again.err
    assert again.out == f"{work_id}\talready registered\t{path}\n"

    copy = str(tmp_path / "another name.mp4")
    shutil.copyfile(path, copy)
    dup = run_cli("--library", lib, "register", copy, "--id", "other-id", "--title", "Other")
    assert dup.code == 0, dup.err
    assert dup.out == f"{work_id}\talready registered\t{copy}\n"

    works = run_cli("--library", lib, "works", "--format", "json").json()["works"]
    assert [w["work_id"] for w in works] == [work_id]
    assert works[0]["title"] == "work_c"  # the file name without its extension
    assert works[0]["category"] == "film" and works[0]["owner"] == ""


def test_works_json_shows_registered_metadata(library, work_files):
    """--id, --title, --owner and --category given at registration are stored and listed by
    ``works --format json``, with the work's duration, streams, frame count and source."""
    res = run_cli("--library", library, "works", "--format", "json")
    assert res.code == 0, res.err
    works = res.json()["works"]
    assert [w["work_id"] for w in works] == [s.work_id for s in WORKS.values()]
    for w, (key, spec) in zip(works, WORKS.items(), strict=True):
        assert (w["title"], w["owner"], w["category"]) == (spec.title, spec.owner, spec.category)
        assert w["duration"] == pytest.approx(spec.duration, abs=0.6)
        assert w["has_video"] is True
        assert w["has_audio"] is spec.audio
        assert w["source_path"] == os.path.abspath(work_files[key])
        assert w["content_hash"] == _sha256(work_files[key])
        # 2 samples a second, every picture informative.
        assert abs(w["frames"] - 2 * spec.duration) <= 2
        assert w["registered_at"]


def test_works_table_lists_each_work(library):
    res = run_cli("--library", library, "works")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].split() == ["ID", "CATEGORY", "DURATION", "OWNER", "TITLE"]
    assert len(lines) == 1 + len(WORKS)
    for line, spec in zip(lines[1:], WORKS.values(), strict=True):
        assert line.startswith(spec.work_id) and spec.category in line and spec.owner in line
        assert line.endswith(spec.title)


def test_works_on_an_empty_library(tmp_path):
    from reeltrace.library import Library

    lib = str(tmp_path / "lib")
    Library(lib).close()
    assert run_cli("--library", lib, "works").out == "no works registered\n"
    assert run_cli("--library", lib, "works", "--format", "json").json() == {"works": []}


@pytest.mark.parametrize("command", [["works"], ["scan", "{query}"], ["remove", "w1"], ["index", "status"]])
def test_a_library_that_does_not_exist_is_an_error_and_is_not_created(tmp_path, short_query, command):
    """Only register creates a library: a mistyped --library must not become an empty
    library whose every scan says that nothing was found."""
    lib = str(tmp_path / "mistyped")
    res = run_cli("--library", lib, *[a.replace("{query}", short_query[0]) for a in command])
    assert res.code == 1, (res.out, res.err)
    assert res.err.count("\n") == 1 and "no library at" in res.err and res.out == ""
    assert not os.path.exists(lib)


def test_a_folder_without_media_is_that_input_s_error_and_the_rest_still_runs(library, short_query, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli("--library", library, "scan", str(empty), short_query[0], "--format", "json")
    assert res.code == 1
    assert res.err.count("\n") == 1 and "no media files" in res.err
    assert len(res.json()["results"]) == 1


def test_remove_drops_the_work_from_listings_and_scans(library_copy, short_query, short_report):
    """``remove ID`` prints "<id>\\tremoved"; the work leaves ``works``, and later scans no
    longer report it while still reporting the other works."""
    path, _ = short_query
    (before,) = short_report["results"]
    assert segments_of(before, "work-b") and segments_of(before, "work-a")

    res = run_cli("--library", library_copy, "remove", "work-b")
    assert res.code == 0, res.err
    assert res.out == "work-b\tremoved\n"
    assert work_ids(library_copy) == ["work-a", "work-c"]

    scan = run_cli("--library", library_copy, "scan", path, "--format", "json")
    assert scan.code == 0, scan.err
    (after,) = scan.json()["results"]
    assert [m["work_id"] for m in after["matches"]] == ["work-a"]
    assert segments_of(after, "work-a") == segments_of(before, "work-a")


def test_removed_work_stays_gone_when_the_index_cache_is_rebuilt(library_copy, short_query):
    """After a remove, a reader that rebuilds the vector index from the database (index cache
    deleted) does not bring the removed work back."""
    assert run_cli("--library", library_copy, "remove", "work-a").code == 0
    shutil.rmtree(os.path.join(library_copy, "index"))
    scan = run_cli("--library", library_copy, "scan", short_query[0], "--format", "json")
    assert scan.code == 0, scan.err
    assert [m["work_id"] for m in scan.json()["results"][0]["matches"]] == ["work-b"]


def test_remove_unknown_id_exits_1(library_copy):
    """Removing an id that is not registered is a one-line error with exit status 1, and
    changes nothing."""
    res = run_cli("--library", library_copy, "remove", "no-such-work")
    assert res.code == 1
    assert res.out == ""
    assert res.err.count("\n") == 1 and res.err.startswith("reeltrace: ") and "no-such-work" in res.err
    assert work_ids(library_copy) == [s.work_id for s in WORKS.values()]


def test_register_with_a_taken_id_fails_and_adds_nothing(library_copy, distractor_file):
    """A new file registered under an id another work already has is refused (exit 1, one
    line naming the id), and the catalogue is unchanged."""
    res = run_cli("--library", library_copy, "register", distractor_file, "--id", "work-a")
    assert res.code == 1
    assert res.err.count("\n") == 1 and "work-a" in res.err
    assert work_ids(library_copy) == [s.work_id for s in WORKS.values()]


@pytest.mark.parametrize("bad_id", ["-leading-dash", "has space", "x" * 65, "slash/id", ""])
def test_register_with_a_malformed_id_is_refused(library_copy, distractor_file, bad_id):
    res = run_cli("--library", library_copy, "register", distractor_file, f"--id={bad_id}")
    assert res.code != 0
    assert res.err.count("\n") == 1 and res.err.startswith("reeltrace: ")
    assert work_ids(library_copy) == [s.work_id for s in WORKS.values()]


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        [],
        ["register", "{file}", "--category", "opera"],
        ["scan", "{file}", "--format", "xml"],
        ["works", "--format", "csv"],
        ["scan"],
        ["register"],
        ["remove"],
        ["register", "{file}", "{file}", "--id", "two-files-one-id"],
        ["scan", "{file}", "--claimant", "Studio"],
        ["scan", "{file}", "{file}", "--report", "{tmp}/r.html", "--found-at", "https://video.example/1"],
    ],
    ids=["unknown command", "no command", "bad category", "bad scan format", "bad works format",
         "scan without paths", "register without paths", "remove without id", "--id with two paths",
         "--claimant without --report", "--found-at with two paths"],  # fmt: skip
)
def test_usage_errors_exit_2_and_change_nothing(library_copy, distractor_file, argv, tmp_path):
    """Usage errors (unknown command, bad --category, bad --format, missing arguments, --id
    with several paths, report options without their report) exit with status 2, print to
    standard error only, and register or write nothing."""
    argv = [a.replace("{file}", distractor_file).replace("{tmp}", str(tmp_path)) for a in argv]
    res = run_cli("--library", library_copy, *argv)
    assert res.code == 2, (res.out, res.err)
    assert os.listdir(tmp_path) == ["library"]  # no report written
    assert res.out == ""
    assert res.err.strip()
    assert work_ids(library_copy) == [s.work_id for s in WORKS.values()]


def test_cli_end_to_end_in_a_child_process(tmp_path, work_files, short_query):
    """``python -m reeltrace`` as a real process: register (printing the id), works, scan
    (finding the work), remove (the scan is then clean) and removing again (exit 1);
    $REELTRACE_LIBRARY names the library when --library is not given, and --library is also
    accepted after the command."""
    lib = str(tmp_path / "lib")
    path, _ = short_query
    reg = run_subprocess("--library", lib, "register", work_files["B"], "--title", "Bravo", "--category", "drama")
    assert reg.returncode == 0, reg.stderr
    work_id = reg.stdout.split("\t")[0]
    assert reg.stdout == f"{work_id}\tregistered\t{work_files['B']}\n"

    env = dict(os.environ, REELTRACE_LIBRARY=lib)
    works = run_subprocess("works", "--format", "json", env=env, cwd=str(tmp_path))
    assert works.returncode == 0, works.stderr
    assert [(w["work_id"], w["title"], w["category"]) for w in json.loads(works.stdout)["works"]] == [
        (work_id, "Bravo", "drama")
    ]

    scan = run_subprocess("scan", path, "--format", "json", "--library", lib)
    assert scan.returncode == 0, scan.stderr
    (result,) = json.loads(scan.stdout)["results"]
    assert [m["work_id"] for m in result["matches"]] == [work_id]

    rm = run_subprocess("--library", lib, "remove", work_id)
    assert (rm.returncode, rm.stdout) == (0, f"{work_id}\tremoved\n")
    scan = run_subprocess("--library", lib, "scan", path, "--format", "json")
    assert scan.returncode == 0, scan.stderr
    assert json.loads(scan.stdout)["results"][0]["matches"] == []

    again = run_subprocess("--library", lib, "remove", work_id)
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and work_id in again.stderr

    usage = run_subprocess("--library", lib, "frobnicate")
    assert usage.returncode == 2
    assert not os.path.exists(os.path.join(str(tmp_path), "reeltrace-library"))


@pytest.mark.parametrize("flag", ["--output", "--report"])
@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_an_output_that_cannot_be_written_is_refused_before_the_scan(library, short_query, tmp_path, flag, where):
    """A scan's report goes to a file whose folder exists; a path in a missing folder, or a
    folder itself, is a one-line usage error before any work (a folder's scan can take an
    hour), and nothing is created: one rule for ``--output`` and ``--report``."""
    path, _ = short_query
    target = str(tmp_path / "missing" / "out.json") if where == "missing folder" else str(tmp_path)
    before = sorted(os.listdir(tmp_path))
    res = run_cli("--library", library, "scan", path, flag, target)
    assert res.code == 2, (res.out, res.err)
    assert res.out == ""
    assert res.err.count("\n") == 1 and flag in res.err and "Traceback" not in res.err
    assert sorted(os.listdir(tmp_path)) == before


def test_version_names_the_package_the_model_and_the_formats():
    from reeltrace import __version__

    res = run_cli("--version")
    assert res.code == 0
    assert res.out.count("\n") == 1
    assert res.out.startswith(f"reeltrace {__version__} ") and "sscd" in res.out and "fingerprint v" in res.out


def test_a_file_with_sound_alone_registers_as_audio_by_default(tmp_path, distractor_file):
    import wave

    import numpy as np

    # 12 s of notes that change every quarter second over a little noise, at 16 kHz.
    rng = np.random.default_rng(3)
    t = np.arange(16000 // 4) / 16000
    notes = [np.sin(2 * np.pi * f * t) for f in rng.uniform(200, 3000, 48)]
    signal = np.concatenate(notes) * 0.5 + rng.normal(0, 0.02, 48 * len(t))
    sound = str(tmp_path / "sound only.wav")
    with wave.open(sound, "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(16000)
        fh.writeframes((signal * 20000).astype("<i2").tobytes())
    lib = str(tmp_path / "lib")
    assert run_cli("--library", lib, "register", sound).code == 0
    assert run_cli("--library", lib, "register", distractor_file).code == 0
    listed = {w["title"]: w["category"] for w in run_cli("--library", lib, "works", "--format", "json").json()["works"]}
    assert listed == {"sound only": "audio", os.path.splitext(os.path.basename(distractor_file))[0]: "film"}


def test_one_title_for_several_files_is_refused(library_copy, work_files, distractor_file):
    res = run_cli("--library", library_copy, "register", distractor_file, work_files["A"], "--title", "Same")
    assert res.code == 2 and res.out == "" and res.err.count("\n") == 1 and "--title" in res.err
    assert work_ids(library_copy) == [s.work_id for s in WORKS.values()]


def test_works_edit_changes_title_owner_and_category_and_nothing_else(library_copy):
    before = json.loads(run_cli("--library", library_copy, "works", "--format", "json").out)["works"]
    target = before[0]["work_id"]
    r = run_cli("--library", library_copy, "works", "edit", target, "--title", "Renamed", "--owner", "Studio X",
                "--category", "drama")  # fmt: skip
    assert r.code == 0 and r.out.startswith(f"{target}\tedited\t'Renamed' [drama] owner=Studio X"), r
    after = {w["work_id"]: w for w in json.loads(run_cli("--library", library_copy, "works", "--format", "json").out)["works"]}
    assert (after[target]["title"], after[target]["owner"], after[target]["category"]) == ("Renamed", "Studio X", "drama")
    unchanged = {k: v for k, v in before[0].items() if k not in ("title", "owner", "category")}
    assert {k: after[target][k] for k in unchanged} == unchanged
    assert all(after[w["work_id"]] == w for w in before[1:])


@pytest.mark.parametrize("argv,code,message", [
    (["works", "edit", "no-such-work", "--title", "x"], 1, "no work with id 'no-such-work'"),
    (["works", "edit"], 2, "give the WORK_ID"),
    (["works", "edit", "{first}"], 2, "nothing to change"),
    (["works", "edit", "{first}", "--title", "  "], 1, "a title cannot be empty"),
    (["works", "{first}"], 2, "invalid choice"),
    (["works", "list", "--title", "x"], 2, "go with edit"),
])  # fmt: skip
def test_works_edit_errors_are_one_line_and_change_nothing(library_copy, argv, code, message):
    before = run_cli("--library", library_copy, "works", "--format", "json").out
    first = json.loads(before)["works"][0]["work_id"]
    r = run_cli("--library", library_copy, *[a.format(first=first) for a in argv])
    assert r.code == code and message in r.err, r
    assert run_cli("--library", library_copy, "works", "--format", "json").out == before


def _on_a_terminal(*argv: str) -> tuple[int, str, str]:
    """``reeltrace ARGV`` in a child process whose standard error is a terminal (a pty) and
    standard output a pipe, as in ``reeltrace scan ... > report.json``: (status, stdout,
    what the terminal showed)."""
    import pty
    import subprocess

    from helpers import reeltrace_command, subprocess_env

    leader, follower = pty.openpty()
    env = dict(subprocess_env(), COLUMNS="100", TERM="xterm")
    child = subprocess.Popen(reeltrace_command(*argv), stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    out = child.communicate(timeout=300)[0]
    os.close(leader)
    return child.returncode, out.decode(), shown.decode(errors="replace")


def test_progress_bars_on_a_terminal_and_only_results_on_standard_output(library_copy, short_query, distractor_file):
    code, out, shown = _on_a_terminal("--library", library_copy, "scan", short_query[0], distractor_file, "--format", "json")
    assert code == 0, shown
    assert json.loads(out)["results"][0]["matches"], out  # the report is intact on the pipe
    assert "scanning 2 files" in shown and "100%" in shown, shown
    assert os.path.basename(short_query[0])[:20] in shown


def test_quiet_or_a_pipe_draws_no_progress(library_copy, short_query, tmp_path):
    code, out, shown = _on_a_terminal("--library", library_copy, "--quiet", "scan", short_query[0])
    assert code == 0 and "scanning" not in shown and "%" not in shown and shown.strip() == "", shown
    code, out, shown = _on_a_terminal("--library", library_copy, "scan", "-q", short_query[0])
    assert code == 0 and shown.strip() == "", shown
    piped = run_subprocess("--library", library_copy, "scan", short_query[0])
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr


def test_serve_refuses_a_taken_port_and_a_missing_allowed_folder_before_creating_anything(tmp_path):
    import socket

    library = str(tmp_path / "service-library")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_subprocess("--library", library, "serve", "--port", str(port), timeout=60)
    assert busy.returncode == 1 and busy.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in busy.stderr, busy.stderr
    assert "token" not in busy.stderr and busy.stdout == ""
    missing = run_subprocess("--library", library, "serve", "--allow-path", str(tmp_path / "nope"), timeout=60)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no such folder" in missing.stderr
    assert not os.path.exists(library)  # no library, no admin account, no token printed


def test_verbose_says_what_each_stage_did_on_stderr_only(library, short_query):
    """``-v`` (before or after the command) tells, on standard error, what the stages did:
    the file, the picture and sound stages, the decision; ``-vv`` each candidate work too.
    Standard output is the same report as without it."""
    plain = run_subprocess("--library", library, "scan", short_query[0], "--format", "json")
    loud = run_subprocess("--library", library, "scan", short_query[0], "--format", "json", "-v")
    assert plain.returncode == loud.returncode == 0, loud.stderr
    strip = lambda text: [m["work_id"] for r in json.loads(text)["results"] for m in r["matches"]]  # noqa: E731
    assert strip(loud.stdout) == strip(plain.stdout) and plain.stderr == ""
    err = " ".join(loud.stderr.split())  # rich wraps long lines
    for said in ("short query.mp4", "picture", "embedded", "candidate work", "sound", "decided in"):
        assert said in err, (said, loud.stderr)
    assert "frame matches" not in err
    louder = run_subprocess("-vv", "--library", library, "scan", short_query[0], "--format", "json")
    assert "frame matches" in " ".join(louder.stderr.split()), louder.stderr
