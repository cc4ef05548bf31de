"""Live streams (``reeltrace watch``): the tracker on hand-made windows, then whole watches
of real streams that FFmpeg writes from generated media: an HLS stream served over HTTP on
127.0.0.1 (a registered work spliced between unregistered footage), the same server gone
and back, and a file still being written."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import av
import mediagen
import numpy as np
import pytest
from helpers import WORKS, run_cli
from streams import AFTER, BEFORE, EXCERPT, serve_folder, write_hls

from reeltrace.library import Library
from reeltrace.live.chunks import cut_chunks, open_source
from reeltrace.live.tracker import LiveEvent, ReuseTracker, TrackerParams
from reeltrace.live.watch import EventWriter, Piece, WatchParams, _describe, _window_picture, watch
from reeltrace.records import Segment, Work, WorkMatch
from reeltrace.video.embed import StreamDescriber, View, describe_video

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the streams are written by ffmpeg")


# -- the tracker -------------------------------------------------------------------------------


def _work(work_id: str) -> Work:
    return Work(work_id, work_id.title(), "Owner", "film", 600.0, "h", f"{work_id}.mp4", "", True, True)


def _window(work_id: str, *segments: tuple[float, float, float]) -> list[WorkMatch]:
    """A window's matches: (query start, query end, work start) in window time, 1x."""
    segs = [Segment(q0, q1, w0, w0 + q1 - q0, 0.9) for q0, q1, w0 in segments]
    return [WorkMatch(_work(work_id), "video", 0.9, segs)]


def test_a_reuse_starts_grows_across_windows_and_ends_when_the_stream_moves_on():
    t = ReuseTracker("live", TrackerParams(end_after=6.0))
    # Windows of 15 s every 3 s; the work is on air from stream 20 s to 35 s (work 100-115 s).
    events = t.see(_window("w1", (11.0, 15.0, 100.0)), 9.0, 24.0)
    assert [(e.event, e.stream_start, e.stream_end, e.work_start) for e in events] == [("start", 20.0, 24.0, 100.0)]
    events = t.see(_window("w1", (8.0, 15.0, 100.0)), 12.0, 27.0)
    assert [(e.event, e.stream_end, e.work_end) for e in events] == [("update", 27.0, 107.0)]
    assert t.see(_window("w1", (5.0, 15.0, 100.0)), 15.0, 30.0)[0].stream_end == 30.0
    assert t.see(_window("w1", (2.0, 15.0, 100.0)), 18.0, 33.0)[0].stream_end == 33.0
    assert t.see(_window("w1", (0.0, 14.0, 101.0)), 21.0, 35.0)[0].stream_end == 35.0
    assert t.see([], 24.0, 39.0) == []  # 4 s without it: not over yet
    (end,) = t.see([], 27.0, 42.0)
    assert (end.event, end.stream_start, end.stream_end, end.work_start, end.work_end) == ("end", 20.0, 35.0, 100.0, 115.0)
    assert t.open == [] and t.close() == []


def test_the_same_work_back_later_or_elsewhere_in_it_is_another_reuse():
    t = ReuseTracker("live")
    assert [e.event for e in t.see(_window("w1", (0.0, 10.0, 50.0)), 0.0, 13.0)] == ["start"]
    # Right after, but 30 s further into the work: a new reuse (a cut to another scene).
    events = t.see(_window("w1", (10.0, 13.0, 90.0)), 0.0, 13.0)
    assert [(e.event, e.work_start) for e in events] == [("start", 90.0)]
    # Another work at once: its own reuse.
    assert [(e.event, e.work_id) for e in t.see(_window("w2", (11.0, 13.0, 5.0)), 0.0, 13.0)] == [("start", "w2")]
    ended = t.see([], 40.0, 55.0)
    assert sorted((e.work_id, e.work_start, e.reuse) for e in ended) == [("w1", 50.0, 1), ("w1", 90.0, 2), ("w2", 5.0, 3)]
    # A later window that still holds an ended stretch: nothing new.
    assert t.see(_window("w1", (0.0, 10.0, 50.0)), 0.0, 56.0) == []
    # Back after the end: a new reuse, not the old one grown.
    assert [e.event for e in t.see(_window("w1", (0.0, 8.0, 60.0)), 56.0, 66.0)] == ["start"]
    assert [e.event for e in t.close()] == ["end"]


def test_a_work_on_air_is_not_started_again_elsewhere_in_it_during_its_airing():
    """Frames that repeat (a talking head) can match another place in the work while the
    work airs: the stretch the open reuse covers is that airing, not a second reuse; a cut to
    another scene right after it still is one."""
    t = ReuseTracker("live")
    assert [e.event for e in t.see(_window("w1", (2.0, 12.0, 100.0)), 0.0, 15.0)] == ["start"]
    assert [e.event for e in t.see(_window("w1", (2.0, 15.0, 100.0), (6.0, 11.0, 108.0)), 0.0, 15.0)] == ["update"]
    assert [(e.event, e.work_start) for e in t.see(_window("w1", (15.0, 18.0, 300.0)), 3.0, 18.0)] == [("start", 300.0)]
    # Once ended, its stretch seen again elsewhere in the work is still that airing.
    assert [e.event for e in t.see([], 20.0, 35.0)] == ["end", "end"]
    assert t.see(_window("w1", (0.0, 6.0, 40.0)), 5.0, 20.0) == []


def test_a_reuse_first_put_at_a_look_alike_place_is_moved_to_the_better_line():
    t = ReuseTracker("live")
    wrong = [WorkMatch(_work("w1"), "video", 0.8, [Segment(2.0, 12.0, 7.75, 17.75, 0.8)])]
    (start,) = t.see(wrong, 540.0, 555.0)
    assert (start.event, start.work_start) == ("start", 7.75)
    right = [WorkMatch(_work("w1"), "video", 0.98, [Segment(2.0, 13.0, 11.0, 22.0, 0.98)])]
    (update,) = [e for e in t.see(right, 540.0, 555.0) if e.event == "update"]
    assert (update.event, update.reuse, update.stream_start, update.work_start, update.work_end) == ("update", 1, 542.0, 11.0, 22.0)
    assert t.see(wrong, 541.0, 556.0) == []  # the weaker line again: nothing


def test_a_start_guessed_at_a_window_s_end_is_moved_by_a_window_that_sees_before_it():
    """A reuse coming on air at 8 s, seen by the window 0-9 s over its last second: that
    segment's start (6.3 s) is a guess (``TrackerParams.settle``). The window 0-12 s holds
    the guess and what came before it, and sees the reuse over 4 s from 7.8 s: the start
    moves there, and that window's update says so. A start seen over ``settle`` seconds, a
    window that does not hold the start with ``context`` before it, or one that also sees the
    reuse at the earlier start, leave it."""
    t = ReuseTracker("live")
    assert [(e.event, e.stream_start) for e in t.see(_window("w1", (6.3, 8.8, 104.5)), 0.0, 9.0)] == [("start", 6.3)]
    events = t.see(_window("w1", (7.8, 11.8, 106.0)), 0.0, 12.0)
    assert [(e.event, e.stream_start, e.work_start, e.stream_end) for e in events] == [("update", 7.8, 106.0, 11.8)]
    assert t.see(_window("w1", (4.8, 11.8, 106.0)), 3.0, 15.0)[0].stream_start == 7.8  # seen over 4 s: it stands

    long_seen = ReuseTracker("live")
    long_seen.see(_window("w1", (3.0, 8.8, 101.0)), 0.0, 9.0)  # seen over 5.8 s
    long_seen.see(_window("w1", (5.0, 11.8, 103.0)), 0.0, 12.0)
    assert long_seen.open[0].stream_start == 3.0
    no_context = ReuseTracker("live")
    no_context.see(_window("w1", (6.3, 8.8, 104.5)), 0.0, 9.0)
    no_context.see(_window("w1", (2.6, 8.8, 106.0)), 6.0, 15.0)  # the window starts 0.3 s before the guess
    assert no_context.open[0].stream_start == 6.3
    both = ReuseTracker("live")
    both.see(_window("w1", (6.3, 8.8, 104.5)), 0.0, 9.0)
    both.see(_window("w1", (6.3, 7.0, 104.5), (7.8, 11.8, 106.0)), 0.0, 12.0)  # the early piece seen again
    assert both.open[0].stream_start == 6.3
    relined = ReuseTracker("live")  # moved to a better line in the window: its start and end on that one line
    relined.see(_window("w1", (6.3, 8.8, 104.5)), 0.0, 9.0)
    better = WorkMatch(_work("w1"), "video", 0.98, [Segment(7.8, 10.8, 150.0, 153.0, 0.98)])
    relined.see(_window("w1", (6.6, 11.0, 104.8)) + [better], 0.0, 12.0)
    (reuse,) = relined.open
    assert reuse.work_start - reuse.stream_start == pytest.approx(142.2) and reuse.work_end - reuse.stream_end == pytest.approx(142.2)
    one_window = ReuseTracker("live")  # the window that starts the reuse saw its start: it is not moved there
    events = one_window.see(_window("w1", (6.3, 7.0, 104.5), (7.8, 11.8, 106.0)), 0.0, 12.0)
    assert [(e.event, e.stream_start) for e in events] == [("start", 6.3), ("update", 6.3)]


def test_an_event_line_holds_the_contract_fields():
    t = ReuseTracker("rtmp://example/live")
    (event,) = t.see(_window("w1", (1.0, 9.0, 30.0)), 100.0, 110.0)
    line = event.public()
    assert set(line) == {"event", "source", "work_id", "title", "owner", "category", "modality", "score",
                         "stream_start", "stream_end", "work_start", "work_end", "detected_at", "stream_now", "reuse"}  # fmt: skip
    assert line["stream_now"] == 110.0
    assert (line["stream_start"], line["work_start"]) == (101.0, 30.0) and line["detected_at"].endswith("Z")
    assert type(event).from_dict(event.to_dict()) == event


# -- whole watches -----------------------------------------------------------------------------


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def _check_the_work_was_on_air(events: list[dict]) -> None:
    """One reuse of work A, started and ended, at the times the stream shows it; nothing else."""
    reuses = [e for e in events if e["event"] in ("start", "update", "end")]
    assert {e["work_id"] for e in reuses} == {WORKS["A"].work_id}, events
    assert [e["event"] for e in reuses][0] == "start" and [e["event"] for e in reuses].count("end") == 1, events
    assert {e["reuse"] for e in reuses} == {1}  # its start, updates and end name one reuse
    end = next(e for e in reuses if e["event"] == "end")
    assert end["stream_start"] == pytest.approx(BEFORE, abs=1.5) and end["stream_end"] == pytest.approx(BEFORE + 10.0, abs=1.5)
    assert end["work_start"] == pytest.approx(EXCERPT[0], abs=1.5) and end["work_end"] == pytest.approx(EXCERPT[1], abs=1.5)
    assert end["title"] == WORKS["A"].title and end["owner"] == WORKS["A"].owner
    # Latency in stream time (what a real-time watch adds is the scan's own time): the start
    # is decided within 10 s of the work's first frame on the stream, the end within 10 s of its last.
    start = reuses[0]
    assert start["stream_now"] - BEFORE <= 10.0, start
    assert end["stream_now"] - (BEFORE + 10.0) <= 10.0, end


def _watch_served(library: str, server, params: WatchParams) -> tuple[str, list[dict]]:
    """Watch the playlist ``server`` serves until it ends (status 0); its URL and the events."""
    out = io.StringIO()
    url = f"http://127.0.0.1:{server.server_address[1]}/index.m3u8"
    assert watch(library, [url], out, "jsonl", params) == 0
    return url, _events(out.getvalue())


def test_an_hls_stream_over_http_reports_the_work_it_shows(library, stream_media, tmp_path):
    server = serve_folder(write_hls(stream_media, str(tmp_path / "hls")))
    try:
        url, events = _watch_served(library, server, WatchParams(timeout=3.0))
    finally:
        server.shutdown()
    _check_the_work_was_on_air(events)
    assert all(e["source"] == url for e in events)


def _publish_live(vod: str, served: str, pause_after: int, pause: float, pace: float, stop: threading.Event) -> None:
    """The segments of the complete playlist in ``vod`` published one by one in ``served`` as
    a live playlist (no #EXT-X-ENDLIST; the last 5 listed) every ``pace`` s; after
    ``pause_after`` of them it stalls for ``pause`` s, then goes on, then ends."""
    listed = re.findall(r"#EXTINF:([\d.]+),\s*(\S+)", open(os.path.join(vod, "index.m3u8")).read())
    for _, name in listed:
        shutil.copy(os.path.join(vod, name), os.path.join(served, name))

    def write(count: int, ended: bool = False) -> None:
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{max(count - 5, 0)}"]
        lines += [f"#EXTINF:{seconds},\n{name}" for seconds, name in listed[max(count - 5, 0) : count]]
        with open(os.path.join(served, "index.tmp"), "w") as fh:
            fh.write("\n".join(lines + (["#EXT-X-ENDLIST"] if ended else [])) + "\n")
        os.replace(os.path.join(served, "index.tmp"), os.path.join(served, "index.m3u8"))

    for count in range(1, len(listed) + 1):
        write(count)
        if stop.wait(pace + (pause if count == pause_after else 0.0)):
            return
    write(len(listed), ended=True)


def test_a_live_playlist_that_stalls_mid_work_is_waited_for_and_resumed_without_replay(library, stream_media, tmp_path):
    """A live playlist stops growing in the middle of the work for 16 s: the open reuse ends
    (what aired meanwhile is unknown), a reconnect event says why, and when segments come
    again the watch reads only the new ones (the second reuse takes up the work where the
    first stopped, not seconds before), with the outage on the stream clock; the playlist's
    #EXT-X-ENDLIST ends the watch."""
    vod, served = write_hls(stream_media, str(tmp_path / "vod")), str(tmp_path / "live")
    os.makedirs(served)
    stop = threading.Event()
    # 2 s segments: the sixth ends 12 s into the stream, 4 s into the work's 10 s on air.
    # FFmpeg gives up on it after HOLD_RELOADS reloads, one a second (half the target duration).
    publisher = threading.Thread(target=_publish_live, args=(vod, served, 6, 16.0, 0.7, stop), daemon=True)
    server = serve_folder(served)
    publisher.start()
    try:
        _, events = _watch_served(library, server, WatchParams(timeout=5.0))
    finally:
        stop.set()
        server.shutdown()
    assert any(e["event"] == "reconnect" and "stopped growing" in e["message"] for e in events), events
    reuses = [e for e in events if e["event"] in ("start", "update", "end")]
    assert {e["work_id"] for e in reuses} == {WORKS["A"].work_id}, events
    first, second = [e for e in reuses if e["event"] == "end"]
    assert [e["event"] for e in reuses].index("end") < [e["event"] for e in reuses].index("start", 1)
    assert first["work_start"] == pytest.approx(EXCERPT[0], abs=1.5) and first["stream_end"] <= BEFORE + 5.0
    assert first["work_end"] - 1.0 <= second["work_start"] <= first["work_end"] + 3.0, (first, second)
    assert second["work_end"] == pytest.approx(EXCERPT[1], abs=1.5)
    assert second["stream_start"] - first["stream_end"] >= 5.0  # the stall is on the stream clock


@pytest.mark.parametrize("kept", ["sound", "picture"])
def test_a_stream_with_sound_alone_or_picture_alone_is_watched(library, work_files, stream_media, tmp_path, kept):
    """A radio-style stream (sound only: quiet noise, work A's sound, quiet noise) and a
    silent one (the picture of the usual stream): each reuse is found by what it has."""
    out_file = str(tmp_path / f"{kept}.ts")
    if kept == "picture":
        command = ["-i", stream_media, "-an", "-c:v", "copy"]
    else:
        fmt = "aformat=sample_rates=48000:channel_layouts=stereo"
        # Seeded noise: unseeded, FFmpeg draws new noise each run, and on 1 of 16 draws tried
        # (seeds 1-16) the sound's reuse began 1.7 s early, in the noise (1.25 s at most since
        # ``TrackerParams.settle``): a test on one fixed input, and a known imprecision of the
        # sound chain's start in quiet noise.
        command = ["-f", "lavfi", "-i", f"anoisesrc=a=0.01:d={BEFORE}:seed=1", "-ss", str(EXCERPT[0]), "-t",
                   str(EXCERPT[1] - EXCERPT[0]), "-i", work_files["A"], "-f", "lavfi", "-i", f"anoisesrc=a=0.01:d={AFTER}:seed=101",
                   "-filter_complex", f"[0:a]{fmt}[a];[1:a]{fmt}[b];[2:a]{fmt}[c];[a][b][c]concat=n=3:v=0:a=1",
                   "-vn", "-c:a", "aac"]  # fmt: skip
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *command, "-f", "mpegts", out_file], check=True)
    out = io.StringIO()
    assert watch(library, [out_file], out, "jsonl", WatchParams(timeout=1.0)) == 0
    events = _events(out.getvalue())
    _check_the_work_was_on_air(events)
    assert {e["modality"] for e in events if e["event"] == "end"} == {"audio" if kept == "sound" else "video"}


def test_a_timestamp_jump_starts_a_new_run_and_the_clock_goes_on(library, stream_media, tmp_path):
    """The encoder restarts 12 s in (4 s into the work) and its timestamps jump by 1,000 s:
    the stream clock does not jump, no window joins the two runs, and the work is one
    reuse across the jump at the right times."""
    first, second, joined = (str(tmp_path / name) for name in ("first.ts", "second.ts", "joined.ts"))
    ffmpeg = ["ffmpeg", "-loglevel", "error", "-y"]
    subprocess.run([*ffmpeg, "-i", stream_media, "-t", "12", "-c", "copy", "-f", "mpegts", first], check=True)
    subprocess.run([*ffmpeg, "-ss", "12", "-i", stream_media, "-c", "copy", "-output_ts_offset", "1000", "-f", "mpegts",
                    second], check=True)  # fmt: skip
    with open(joined, "wb") as out:
        for part in (first, second):
            with open(part, "rb") as fh:
                out.write(fh.read())
    out = io.StringIO()
    assert watch(library, [joined], out, "jsonl", WatchParams(timeout=1.0)) == 0
    _check_the_work_was_on_air(_events(out.getvalue()))


class _HeldOutput(io.StringIO):
    """An output whose reader is away: each write waits until ``back`` is set."""

    def __init__(self):
        super().__init__()
        self.back = threading.Event()

    def write(self, text: str) -> int:
        self.back.wait()
        return super().write(text)


def test_a_slow_reader_never_holds_the_watch_up_and_what_it_misses_is_counted():
    out = _HeldOutput()
    writer = EventWriter(out, "jsonl", size=5)
    events = [LiveEvent("reconnect", "live", message=f"event {i}", detected_at="t") for i in range(20)]
    putting = threading.Thread(target=lambda: [writer.put(e) for e in events], daemon=True)
    putting.start()
    putting.join(30)
    assert not putting.is_alive()  # the sources' threads went on while nothing was read
    out.back.set()
    writer.close()
    lines = _events(out.getvalue())
    told = [line for line in lines if line["event"] == "dropped"]
    assert len(told) == 1 and told[0]["message"].endswith("events dropped: the output was not read fast enough")
    dropped = int(told[0]["message"].split()[0])
    written = [line["message"] for line in lines if line["event"] == "reconnect"]
    assert dropped > 0 and len(written) + dropped == len(events)
    assert written == sorted(written, key=lambda m: int(m.split()[1]))  # in order, none twice


def test_the_chunk_clock_keeps_the_stream_s_time(stream_media, tmp_path):
    """Each chunk starts on the watch's clock where its first frame is in the stream (x264's
    B-frames send a chunk's last frame before others: a clock summed from the last packets
    fell a frame behind at every chunk), and the chunks cover the stream's whole length."""
    with av.open(stream_media) as container:
        picture = container.streams.video[0]
        origin = float(picture.start_time * picture.time_base)
        chunks = list(cut_chunks(container, str(tmp_path), hop=3.0))
    for chunk in chunks:
        with av.open(chunk.path) as part:
            first = float(part.streams.video[0].start_time * part.streams.video[0].time_base)
        assert chunk.start == pytest.approx(first - origin, abs=1e-3)
    total = chunks[-1].start + chunks[-1].duration
    assert total == pytest.approx(BEFORE + (EXCERPT[1] - EXCERPT[0]) + AFTER, abs=1.01 / mediagen.FPS)


def _write_live_playlist(vod: str, served: str, count: int, ended: bool) -> None:
    """The first ``count`` segments of the complete playlist in ``vod`` as a live playlist in ``served``."""
    listed = re.findall(r"#EXTINF:([\d.]+),\s*(\S+)", open(os.path.join(vod, "index.m3u8")).read())
    for _, name in listed[:count]:
        shutil.copy(os.path.join(vod, name), os.path.join(served, name))
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:0"]
    lines += [f"#EXTINF:{seconds},\n{name}" for seconds, name in listed[:count]]
    with open(os.path.join(served, "index.tmp"), "w") as fh:
        fh.write("\n".join(lines + (["#EXT-X-ENDLIST"] if ended else [])) + "\n")
    os.replace(os.path.join(served, "index.tmp"), os.path.join(served, "index.m3u8"))


def test_a_live_playlist_s_chunk_closes_when_its_segments_are_read_not_a_segment_later(stream_media, tmp_path):
    """Two 2 s segments published, the third not yet: the 4 s chunk (hop 3.5 s; keyframes
    every second, so without the pause it would close at the third segment's first frame)
    comes while the playlist waits, and the stream goes on after it: every chunk starts
    where the last ended (but for a segment's last frame, which FFmpeg gives with the next
    segment's first bytes), with its sound from its start."""
    vod, served = write_hls(stream_media, str(tmp_path / "vod")), str(tmp_path / "live")
    os.makedirs(served)
    _write_live_playlist(vod, served, 2, ended=False)
    server = serve_folder(served)
    url = f"http://127.0.0.1:{server.server_address[1]}/index.m3u8"
    got: list = []
    came = threading.Event()
    folder = str(tmp_path / "chunks")
    os.makedirs(folder)

    def cut() -> None:
        try:
            with open_source(url, 10.0) as container:
                for chunk in cut_chunks(container, folder, hop=3.5, segmented=True):
                    got.append(chunk)
                    came.set()
        finally:
            came.set()

    cutting = threading.Thread(target=cut, daemon=True)
    cutting.start()
    try:
        assert came.wait(60) and got, "no chunk while the playlist waited for its third segment"
        assert got[0].start == 0.0 and got[0].duration == pytest.approx(4.0, abs=0.05)
        _write_live_playlist(vod, served, 99, ended=True)
        cutting.join(120)
    finally:
        server.shutdown()
    assert not cutting.is_alive()
    total = BEFORE + (EXCERPT[1] - EXCERPT[0]) + AFTER
    assert got[-1].start + got[-1].duration == pytest.approx(total, abs=1.01 / mediagen.FPS)
    for before, after in zip(got, got[1:]):
        assert -1e-3 <= after.start - (before.start + before.duration) <= 1.01 / mediagen.FPS
    for chunk in got:
        with av.open(chunk.path) as part:
            picture, sound = part.streams.video[0], part.streams.audio[0]
            assert float(sound.start_time * sound.time_base) <= float(picture.start_time * picture.time_base) + 0.1


def test_a_stream_described_chunk_by_chunk_is_described_as_the_whole_file(library, stream_media, tmp_path):
    """Each sampled instant is embedded once, on the whole file's sampling grid (no near-twin
    instants where two chunks meet, no drift: a frame's worth at most, 0.04 s at 25 fps), and
    its full-frame descriptor is close to the one a scan of the whole file gives it (the same
    or the next frame, its crop judged on other context): a window's picture is its chunks'."""
    errors: list = []
    with Library(library) as lib:
        describer, next_sample, pieces = StreamDescriber(lib.embedder, lib.video), None, []
        with av.open(stream_media) as container:
            for chunk in cut_chunks(container, str(tmp_path), hop=3.0):
                picture, next_sample = _describe(lib, describer, chunk, next_sample, "stream", errors.append)
                pieces.append(Piece(chunk, picture))
        end = pieces[-1].chunk.start + pieces[-1].chunk.duration
        chunked = _window_picture(pieces, end, lib.video.sample_fps)
        whole = describe_video(stream_media, lib.embedder, lib.video, end, query=True)
    assert errors == [] and len(pieces) >= 6
    instants, expected = np.unique(chunked.timestamps), np.unique(whole.timestamps)
    assert np.diff(instants).min() >= 0.4
    assert len(instants) == len(expected) and np.abs(instants - expected).max() <= 1.01 / mediagen.FPS
    full_chunked = chunked.embeddings[chunked.views == View.FULL]
    full_whole = whole.embeddings[whole.views == View.FULL]
    similarity = np.sum(full_chunked * full_whole, axis=1)
    assert np.median(similarity) >= 0.95 and similarity.min() >= 0.85, similarity


def test_a_source_that_is_down_then_up_is_reconnected(library, stream_media, tmp_path):
    folder = write_hls(stream_media, str(tmp_path / "hls"))
    with socket.socket() as probe:  # a free port, nothing listening on it yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    servers = []
    threading.Timer(2.0, lambda: servers.append(serve_folder(folder, port))).start()
    try:
        out = io.StringIO()
        assert watch(library, [f"http://127.0.0.1:{port}/index.m3u8"], out, "jsonl", WatchParams(timeout=3.0)) == 0
    finally:
        for s in servers:
            s.shutdown()
    events = _events(out.getvalue())
    assert events[0]["event"] == "reconnect" and "trying again" in events[0]["message"], events[:2]
    _check_the_work_was_on_air(events)


def test_a_file_still_being_written_is_followed_until_it_stops_growing(library, stream_media, tmp_path):
    data = open(stream_media, "rb").read()
    growing = str(tmp_path / "recording.ts")
    open(growing, "wb").close()

    def write() -> None:  # about 4x real time, in pieces of whole TS packets
        piece = 188 * 400
        with open(growing, "ab") as fh:
            for at in range(0, len(data), piece):
                fh.write(data[at : at + piece])
                fh.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=write)
    writer.start()
    out = io.StringIO()
    try:
        assert watch(library, [growing], out, "jsonl", WatchParams(timeout=2.0)) == 0
    finally:
        writer.join()
    _check_the_work_was_on_air(_events(out.getvalue()))


def test_watch_errors_are_events_and_a_status(library, tmp_path):
    res = run_cli("--library", library, "watch", str(tmp_path / "missing.ts"), "--timeout", "1")
    assert res.code == 1 and res.err == ""
    (event,) = _events(res.out)
    assert event["event"] == "error" and event["source"].endswith("missing.ts")
    assert event["message"] == "cannot read: No such file or directory"  # the reason, not FFmpeg's errno
    res = run_cli("--library", str(tmp_path / "no-library"), "watch", "x.ts")
    assert res.code == 1 and res.err.count("\n") == 1 and "no library" in res.err


def test_ctrl_c_ends_the_open_reuse_and_exits_cleanly(library, stream_media, tmp_path):
    """``reeltrace watch`` on a recording that stops growing while the work is on air: once
    its ``start`` is out, Ctrl-C closes the reuse with ``end`` and the exit status is 0."""
    import signal

    from helpers import reeltrace_command, subprocess_env

    data = open(stream_media, "rb").read()
    growing = tmp_path / "recording.ts"
    cut = len(data) * 15 // 26 // 188 * 188  # about 15 s of the 26 s stream: the work is on air there
    growing.write_bytes(data[:cut])
    proc = subprocess.Popen(reeltrace_command("--library", library, "watch", str(growing), "--timeout", "120"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())  # fmt: skip
    try:
        lines = []
        deadline = time.monotonic() + 240
        while not any(json.loads(line)["event"] == "start" for line in lines):
            assert time.monotonic() < deadline, lines
            lines.append(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    events = _events("".join(lines) + out)
    assert proc.returncode == 0, err
    assert [e["event"] for e in events if e["event"] in ("start", "end")] == ["start", "end"], events
    assert events[-1]["work_id"] == WORKS["A"].work_id and events[-1]["stream_start"] == pytest.approx(BEFORE, abs=1.5)


def test_a_live_udp_stream_that_drops_mid_work_is_reconnected_and_its_reuses_closed(library, stream_media, tmp_path):
    """MPEG-TS over UDP, sent in real time, that stops for 7 s in the middle of the work and
    comes back: the watch reconnects, the reuse before the drop ends, the work after it is
    another reuse, and every reuse is closed; nothing is reported twice."""
    from reeltrace.live.watch import watch_source

    parts = [str(tmp_path / "before-drop.ts"), str(tmp_path / "after-drop.ts")]
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", stream_media, "-t", "12", "-c", "copy", parts[0]], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-ss", "12", "-i", stream_media, "-c", "copy", parts[1]], check=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sent, stop = threading.Event(), threading.Event()

    def send() -> None:
        time.sleep(1.0)
        for i, part in enumerate(parts):
            if i:
                time.sleep(7.0)
            subprocess.run(["ffmpeg", "-loglevel", "error", "-re", "-i", part, "-c", "copy", "-f", "mpegts",
                            f"udp://127.0.0.1:{port}?pkt_size=1316"], check=True)  # fmt: skip
        sent.set()
        time.sleep(10.0)  # the last windows, then the end of the watch
        stop.set()

    threading.Thread(target=send, daemon=True).start()
    events: list[dict] = []
    url = f"udp://127.0.0.1:{port}?overrun_nonfatal=1&fifo_size=100000"
    assert watch_source(library, url, lambda e: events.append(e.public()), stop, WatchParams(timeout=3.0))
    assert sent.is_set()
    reuses = [e for e in events if e["event"] in ("start", "end")]
    assert {e["work_id"] for e in reuses} == {WORKS["A"].work_id}, events
    starts, ends = [e for e in reuses if e["event"] == "start"], [e for e in reuses if e["event"] == "end"]
    assert len(starts) == len(ends) == 2, events
    first_reconnect = next(i for i, e in enumerate(events) if e["event"] == "reconnect")
    assert events.index(starts[0]) < first_reconnect < events.index(starts[1])
    assert starts[0]["stream_start"] == pytest.approx(BEFORE, abs=1.5) and starts[0]["work_start"] == pytest.approx(EXCERPT[0], abs=1.5)
    assert ends[-1]["work_end"] == pytest.approx(EXCERPT[1], abs=1.5)
