"""The scan report formats: the JSON contract, CSV, the table, and --output."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from helpers import WORKS, check_clip_found, check_nothing_else, run_cli

# The keys the contract promises (a segment also says its own "modality" since audio, and
# its "speed" since an outside check found it only in the table).
SEGMENT_KEYS = {"query_start", "query_end", "work_start", "work_end", "speed", "score"}
MATCH_KEYS = {"work_id", "title", "owner", "category", "modality", "score", "segments"}
RESULT_KEYS = {"query", "duration", "error", "matches"}
MODALITIES = {"video", "audio", "audio+video"}
CSV_FIELDS = [
    "query", "duration", "error", "work_id", "title", "owner", "category", "modality", "match_score",
    "query_start", "query_end", "work_start", "work_end", "segment_score",
]  # fmt: skip


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def test_scan_json_contract(library, short_query, unrelated_file):
    """``scan --format json`` prints {"results": [{"query", "duration", "error", "matches":
    [{"work_id", "title", "owner", "category", "modality", "score", "segments": [{"query_start",
    "query_end", "work_start", "work_end", "score"}]}]}]}, one result per input in order, with
    each work's registered metadata and consistent numbers."""
    path, truths = short_query
    res = run_cli("--library", library, "scan", path, unrelated_file, "--format", "json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert set(report) == {"results"}
    assert [r["query"] for r in report["results"]] == [path, unrelated_file]
    by_id = {spec.work_id: spec for spec in WORKS.values()}
    for result in report["results"]:
        assert set(result) == RESULT_KEYS
        assert isinstance(result["query"], str)
        assert result["error"] is None
        assert _number(result["duration"]) and result["duration"] > 0
        for match in result["matches"]:
            assert set(match) == MATCH_KEYS
            assert isinstance(match["work_id"], str) and isinstance(match["title"], str)
            spec = by_id[match["work_id"]]
            assert (match["title"], match["owner"], match["category"]) == (spec.title, spec.owner, spec.category)
            assert match["modality"] == "video"  # the queries have no sound
            assert 0 < match["score"] <= 1
            assert match["segments"], "a reported work has at least one segment"
            assert match["score"] == max(s["score"] for s in match["segments"])
            starts = [s["query_start"] for s in match["segments"]]
            assert starts == sorted(starts), "segments in query order"
            for s in match["segments"]:
                assert SEGMENT_KEYS <= set(s) <= SEGMENT_KEYS | {"modality"}
                assert all(_number(s[k]) for k in SEGMENT_KEYS)
                assert s.get("modality", "video") == "video"
                assert 0 <= s["query_start"] < s["query_end"] <= result["duration"] + 1e-3
                assert 0 <= s["work_start"] < s["work_end"]
                assert 0 < s["score"] <= 1
                # Every clip of this query plays at its work's own speed.
                assert s["speed"] == pytest.approx(1.0, abs=0.06), s
        scores = [m["score"] for m in result["matches"]]
        assert scores == sorted(scores, reverse=True), "works strongest first"
    query_result, unrelated_result = report["results"]
    assert query_result["duration"] == pytest.approx(truths[-1].query_end, abs=0.1)
    for truth in truths[1:]:
        check_clip_found(query_result, truth)
    check_nothing_else(query_result, truths)
    assert unrelated_result["matches"] == []


def test_scan_csv_has_one_row_per_segment_and_one_per_clean_query(library, short_query, short_report, unrelated_file):
    """``scan --format csv`` writes the documented header, one row per segment with the same
    values as the JSON report, and one row (without a work) for a query with no match."""
    path, _ = short_query
    res = run_cli("--library", library, "scan", path, unrelated_file, "--format", "csv")
    assert res.code == 0, res.err
    reader = csv.DictReader(io.StringIO(res.out))
    assert reader.fieldnames[: len(CSV_FIELDS)] == CSV_FIELDS
    rows = list(reader)
    expected = []
    (result,) = short_report["results"]
    for m in result["matches"]:
        for s in m["segments"]:
            expected.append((path, m["work_id"], m["title"], m["owner"], m["category"], m["modality"], m["score"],
                             s["query_start"], s["query_end"], s["work_start"], s["work_end"], s["score"], s["speed"]))  # fmt: skip
    got = [
        (r["query"], r["work_id"], r["title"], r["owner"], r["category"], r["modality"], float(r["match_score"]),
         float(r["query_start"]), float(r["query_end"]), float(r["work_start"]), float(r["work_end"]),
         float(r["segment_score"]), float(r["speed"]))
        for r in rows if r["query"] == path
    ]  # fmt: skip
    assert got == expected
    clean = [r for r in rows if r["query"] == unrelated_file]
    assert len(clean) == 1
    assert clean[0]["work_id"] == "" and clean[0]["error"] == ""
    assert float(clean[0]["duration"]) == pytest.approx(20.0, abs=0.1)
    assert len(rows) == len(expected) + 1


def test_scan_table_lists_works_and_segments(library, short_query, short_report, unrelated_file):
    """The default table format names each query, each matched work with its title, category
    and owner, one line per segment, and says so when nothing was found."""
    path, _ = short_query
    res = run_cli("--library", library, "scan", path, unrelated_file)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    (result,) = short_report["results"]
    n_segments = sum(len(m["segments"]) for m in result["matches"])
    works = len(result["matches"])
    assert lines[0].startswith(f"{path} (") and lines[0].endswith(f": {works} work" + ("s" if works != 1 else ""))
    for m in result["matches"]:
        spec = next(s for s in WORKS.values() if s.work_id == m["work_id"])
        assert any(
            line.strip().startswith(spec.work_id) and repr(spec.title) in line and f"[{spec.category}]" in line
            and f"owner={spec.owner}" in line
            for line in lines
        ), lines
    # Per work, its segments under column headers; a column nobody fills (NOTE) is left out.
    headers = [line.split() for line in lines if line.startswith("    QUERY")]
    assert headers == [["QUERY", "WORK", "SPEED", "SCORE", "SHOWN", "BY"]] * works
    rows = [line.split() for line in lines if line.startswith("    0:")]
    assert len(rows) == n_segments
    shown = {(s["query_start"], s["work_start"]) for m in result["matches"] for s in m["segments"]}
    assert all(len(r) == 5 and r[2] == "1x" and r[4] == "video" for r in rows), rows
    assert len({r[0] for r in rows}) == n_segments == len(shown)
    assert lines[-2] == f"{unrelated_file} (0:20.00): no registered work found"
    assert lines[-1] == (f"2 files scanned: 1 reuse registered works ({works} match{'es' if works != 1 else ''}, "
                         f"{n_segments} segments), 1 reuse none, 0 failed")  # fmt: skip
    assert len(lines) == 1 + 2 * works + n_segments + 1 + 1


def test_a_failed_input_is_said_once_on_the_terminal_and_kept_in_a_report_file(library, unrelated_file, tmp_path):
    missing = str(tmp_path / "gone.mp4")
    res = run_cli("--library", library, "scan", missing, unrelated_file)
    assert res.code == 1
    assert res.err.count("\n") == 1 and "gone.mp4" in res.err
    assert "gone.mp4" not in res.out and res.out.splitlines()[-1].endswith("1 reuse none, 1 failed")
    out = tmp_path / "report.txt"
    res = run_cli("--library", library, "scan", missing, unrelated_file, "--output", str(out))
    assert res.code == 1 and res.out == ""
    assert any(line.startswith(missing) and "ERROR" in line for line in out.read_text().splitlines())


def test_the_table_shows_a_segment_s_speed_where_it_is_not_1x():
    from reeltrace.records import ScanResult, Segment, Work, WorkMatch
    from reeltrace.report.formats import scan_table

    work = Work("w1", "Film", "", "film", 600.0, "h", "film.mp4", "2026-12-02T00:00:00Z", True, True)
    segments = [Segment(0, 10, 100, 105, 0.9, speed=0.5), Segment(10, 20, 200, 210, 0.9, speed=1.01)]
    text = scan_table([ScanResult("q.mp4", 20.0, None, [WorkMatch(work, "video", 0.9, segments)])])
    header, *rows = [line for line in text.splitlines() if line.startswith("    ")]
    speed = header.index("SPEED")
    assert [row[speed:].split()[0] for row in rows] == ["0.50x", "1x"]


def test_a_recording_two_works_hold_is_said_in_every_format():
    from reeltrace.records import ScanResult, Segment, Work, WorkMatch
    from reeltrace.report.formats import scan_csv, scan_json, scan_table

    work = Work("w2", "Medley", "", "audio", 60.0, "h", "medley.ogg", "2026-12-02T00:00:00Z", False, True)
    segments = [Segment(0, 8, 22, 30, 1.0, modality="audio", shares_audio_with="w1"), Segment(8, 12, 40, 44, 0.9, modality="audio")]
    results = [ScanResult("q.wav", 12.0, None, [WorkMatch(work, "audio", 1.0, segments)])]
    data = json.loads(scan_json(results))
    first, second = data["results"][0]["matches"][0]["segments"]
    assert first["shares_audio_with"] == "w1" and "shares_audio_with" not in second
    rows = list(csv.DictReader(io.StringIO(scan_csv(results))))
    assert [r["shares_audio_with"] for r in rows] == ["w1", ""]
    header, *lines = [line for line in scan_table(results).splitlines() if line.startswith("    ")]
    assert header.split()[-1] == "NOTE"
    assert lines[0].endswith("same recording as w1") and "same recording" not in lines[1]


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_scan_output_option_writes_the_report_to_a_file(library, short_query, tmp_path, fmt):
    """``--output FILE`` writes the report to FILE, the same as it would have printed, and
    prints nothing; no temporary file is left beside it."""
    path, _ = short_query
    target = tmp_path / f"report.{fmt}"
    res = run_cli("--library", library, "scan", path, "--format", fmt, "--output", str(target))
    assert res.code == 0, res.err
    assert res.out == ""
    printed = run_cli("--library", library, "scan", path, "--format", fmt)
    assert target.read_text(encoding="utf-8") == printed.out
    assert os.listdir(tmp_path) == [target.name]


def test_scan_output_dash_means_standard_output(library, unrelated_file):
    res = run_cli("--library", library, "scan", unrelated_file, "--format", "json", "--output", "-")
    assert res.code == 0, res.err
    assert json.loads(res.out)["results"][0]["matches"] == []


def test_min_score_and_min_seconds_keep_only_the_segments_asked_for(library, short_query):
    everything = run_cli("--library", library, "scan", short_query[0], "--format", "json")
    segments = [s for m in everything.json()["results"][0]["matches"] for s in m["segments"]]
    assert len(segments) >= 2, segments
    lengths = sorted(s["query_end"] - s["query_start"] for s in segments)
    cut = (lengths[0] + lengths[-1]) / 2
    longer = run_cli("--library", library, "scan", short_query[0], "--format", "json", "--min-seconds", f"{cut:.3f}")
    kept = [s for m in longer.json()["results"][0]["matches"] for s in m["segments"]]
    assert kept and all(s["query_end"] - s["query_start"] >= cut for s in kept)
    assert len(kept) == sum(1 for length in lengths if length >= cut)
    for m in longer.json()["results"][0]["matches"]:
        assert m["score"] == max(s["score"] for s in m["segments"])
    none = run_cli("--library", library, "scan", short_query[0], "--format", "json", "--min-score", "1")
    assert none.code == 0 and all(s["score"] >= 1 for m in none.json()["results"][0]["matches"] for s in m["segments"])
    bad = run_cli("--library", library, "scan", short_query[0], "--min-score", "1.5")
    assert bad.code == 2 and "between 0 and 1" in bad.err


# -- the evidence report ---------------------------------------------------------------------


def test_the_evidence_report_states_what_a_notice_needs(tmp_path, work_files):
    """The query file's SHA-256 and size, the software, where it was found and who claims,
    the scan time apart from the report time, each segment's modality and speed, and no
    local absolute path."""
    import hashlib

    from reeltrace.about import version_text
    from reeltrace.records import ScanResult, Segment, Work, WorkMatch
    from reeltrace.report import evidence

    query = work_files["B"]
    work = Work("w1", "Harbour Lights", "Northlight", "film", 12.0, "ab" * 32, work_files["A"], "", True, True)
    segs = [Segment(0.0, 4.0, 2.0, 6.0, 0.95, modality="audio+video"), Segment(4.0, 6.0, 6.0, 7.0, 0.9, speed=0.5)]
    result = ScanResult(query=os.path.abspath(query), duration=8.0, matches=[WorkMatch(work, "audio+video", 0.95, segs)])
    html = evidence.render_report([result], library=str(tmp_path / "lib"), scanned_at="2026-01-02T03:04:05+00:00",
                                  query_urls=["https://video.example/watch?v=42"], claimant="Northlight Studios, legal@northlight.example",
                                  software=version_text("sscd_distilled"), frames_per_segment=1)  # fmt: skip
    data = open(query, "rb").read()
    assert hashlib.sha256(data).hexdigest() in html and f"{len(data):,} bytes" in html
    assert "2026-01-02 03:04:05 UTC" in html and html.count(" UTC</td>") == 2  # scan time, report time
    assert "https://video.example/watch?v=42" in html and "legal@northlight.example" in html
    assert version_text("sscd_distilled") in html and "visual model sscd_distilled" in html
    assert "<td>audio+video</td><td>1x</td>" in html and "<td>video</td><td>0.50x</td>" in html
    assert str(tmp_path) not in html and os.path.dirname(os.path.abspath(query)) not in html
    assert os.path.basename(query) in html


def test_sound_only_segments_show_a_spectrogram_pair_of_the_matched_seconds(tmp_path):
    """An audio segment is shown by the spectrograms of both soundtracks over the matched
    seconds, read from the files (no placeholder): the copy's looks like the work's at the
    matched offset, and not like the work's elsewhere."""
    import audiogen as G
    import numpy as np
    from PIL import Image

    from reeltrace.records import ScanResult, Segment, Work, WorkMatch
    from reeltrace.report import evidence

    song = G.music(7, 30.0)
    work_file = G.write(str(tmp_path / "album track.m4a"), song)
    query_file = G.write(str(tmp_path / "vlog.m4a"), G.noise(song[int(10 * G.RATE) : int(18 * G.RATE)], 15.0))
    work = Work("w1", "Album Track", "Label", "audio", 30.0, "", work_file, "", False, True)
    seg = Segment(0.0, 8.0, 10.0, 18.0, 0.9, modality="audio")
    html = evidence.render_report([ScanResult(query=query_file, duration=8.0, matches=[WorkMatch(work, "audio", 0.9, [seg])])])
    assert "Query sound · segment 1 · 0:00.00–0:08.00" in html and "Album Track sound · 0:10.00–0:18.00" in html
    assert html.count("data:image/jpeg;base64,") == 2 and "unavailable" not in html

    def picture(path, start, end):
        return np.asarray(evidence.sound_image(path, start, end).convert("L"), np.float32)

    def alike(a, b):
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    shown = picture(query_file, 0.0, 8.0)
    assert alike(shown, picture(work_file, 10.0, 18.0)) > alike(shown, picture(work_file, 20.0, 28.0)) + 0.2
    assert evidence.sound_image(str(tmp_path / "missing.m4a"), 0.0, 8.0) is None
    # The excerpt is the stretch asked for: the same samples as the whole file's decode there.
    from reeltrace.media.sound import decode_audio, decode_audio_span

    whole, _ = decode_audio(work_file, 8000)
    for start in (0.0, 3.3, 21.7):
        span = decode_audio_span(work_file, 8000, start, start + 5.0)
        at = int(start * 8000)
        assert len(span) == 40000 and np.corrcoef(span, whole[at : at + 40000])[0, 1] > 0.98  # one sample off: 0.92
    assert isinstance(evidence.spectrogram_image(np.zeros(10, np.float32)), Image.Image)  # shorter than a window


def test_frame_pairs_skip_a_fade_to_black(tmp_path):
    """Of the instants around each shown time, the pair a reviewer can compare is chosen: a
    query that is black where the work is lit is not shown there."""
    import mediagen
    import numpy as np

    from reeltrace.records import Segment
    from reeltrace.report import evidence

    frames = list(mediagen.work_frames(11, 6.0, "noise"))
    work = mediagen.write_video(str(tmp_path / "work.mp4"), frames)
    fps = mediagen.FPS
    dark = [np.zeros_like(f) if (i // fps) % 2 == 0 else f for i, f in enumerate(frames)]  # black in even seconds
    query = mediagen.write_video(str(tmp_path / "query.mp4"), dark)
    seg = Segment(0.0, 6.0, 0.0, 6.0, 0.9)
    chosen = evidence.legible_pairs(seg, query, work, count=3, candidates=3)
    assert len(chosen) == 3
    for qt, wt, qimg, wimg in chosen:
        assert int(qt) % 2 == 1, [c[0] for c in chosen]  # a lit second
        assert evidence.pair_legibility(qimg, wimg) > 10
    # With one candidate per shown time, nothing is chosen: the middle pair falls in the dark.
    naive = evidence.legible_pairs(seg, query, work, count=3, candidates=1)
    assert min(evidence.pair_legibility(q, w) for _, _, q, w in naive) < 5
