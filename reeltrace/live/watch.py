"""``reeltrace watch``: sources followed as they play, one thread each, their events written
as they happen by one writer thread.

Per source: open (``chunks.open_source``) -> chunks of ``hop`` seconds -> after each chunk,
the window of the last chunks of the run that cover ``window`` seconds is joined into one
file and scanned by the source's own ``Library`` (the matcher ``scan`` uses) -> the
tracker's events. A URL that drops is opened again after 1, 2, 4 ... 30 s
(``reconnect`` events; ``error`` and the end of that source after ``max_attempts`` failed
opens in a row); a followed file ends when nothing has been written to it for ``timeout``
seconds. Chunks older than the window are deleted: memory and disk stay bounded however
long the watch runs.

The writer never holds decoding up: events wait in a queue of ``queue`` entries; when a slow
reader lets it fill, newer events are counted and dropped, and a ``dropped`` event says how
many once the writer catches up (never a silent loss).
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import av
import numpy as np

from ..library import Library
from ..media.container import MediaError, one_line
from ..media.frames import SampledFrame, sample_frames
from ..report.formats import clock, display
from ..video.embed import StreamDescriber
from ..video.records import VideoFeatures
from .chunks import Chunk, SourceBroken, cut_chunks, is_url, join, open_source
from .playlists import Playlist, is_hls, read_playlist
from .tracker import LiveEvent, ReuseTracker, TrackerParams, now_iso


@dataclass(frozen=True)
class WatchParams:
    hop: float = 3.0  # seconds of stream per chunk (cut at the next keyframe)
    window: float = 15.0  # seconds of stream each scan looks at: the longest a reuse must last to be seen whole
    timeout: float = 10.0  # a source that sends nothing for this long has dropped (a followed file: has ended)
    max_attempts: int = 8  # failed opens in a row before a URL is given up
    queue: int = 10_000  # events waiting for the writer
    tracker: TrackerParams = field(default_factory=TrackerParams)


class EventWriter:
    """Writes events (JSON lines or a table) from a queue in its own thread, flushed each."""

    def __init__(self, out: TextIO, fmt: str = "jsonl", size: int = 10_000):
        self.out, self.fmt = out, fmt
        self.queue: queue.Queue[LiveEvent | None] = queue.Queue(size)
        self.dropped = 0
        self.written = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="reeltrace-watch-writer", daemon=True)
        self._thread.start()

    def put(self, event: LiveEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self.dropped += 1

    def close(self) -> None:
        self.queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            with self._lock:
                dropped, self.dropped = self.dropped, 0
            if dropped:
                self._write(LiveEvent("dropped", "", message=f"{dropped} events dropped: the output was not read fast enough",
                                      detected_at=now_iso()))  # fmt: skip
            if event is None:
                return
            self._write(event)

    def _write(self, event: LiveEvent) -> None:
        if self.fmt == "jsonl":
            line = json.dumps(event.public(), ensure_ascii=False)
        elif event.event in ("error", "reconnect", "dropped"):
            line = f"{event.detected_at}  {event.event.upper():9}  {display(event.source)}: {event.message}"
        else:
            line = (f"{event.detected_at}  {event.event.upper():9}  {display(event.source)}  {event.work_id}  "
                    f"{display(event.title)!r}  stream {clock(event.stream_start)}-{clock(event.stream_end)}  <-  "
                    f"work {clock(event.work_start)}-{clock(event.work_end)}  {event.modality}  score {event.score:.3f}")  # fmt: skip
        self.out.write(line + "\n")
        self.out.flush()
        self.written += 1


LIVE_SCHEMES = ("rtmp", "rtmps", "rtsp", "srt", "udp", "rtp", "tcp")
"""Protocols that only carry live streams: when one ends, its publisher stopped or the
network dropped, and the watch waits for it to come back. An HLS playlist or an HTTP file
that ends has ended (opening it again would replay it)."""


def is_live(source: str) -> bool:
    return source.split("://", 1)[0].lower() in LIVE_SCHEMES if is_url(source) else False


@dataclass
class SourceState:
    """One source's tracker, shared by its thread and (at Ctrl-C) the main thread: the lock
    makes the reuses end exactly once, whoever gets there first."""

    tracker: ReuseTracker
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def see(self, matches, start: float, end: float) -> list[LiveEvent]:
        with self.lock:
            return [] if self.closed else self.tracker.see(matches, start, end)

    def close(self) -> list[LiveEvent]:
        with self.lock:
            if self.closed:
                return []
            self.closed = True
            return self.tracker.close()

    def end_open(self) -> list[LiveEvent]:
        """End the open reuses and go on (after an outage longer than a reuse may go unseen)."""
        with self.lock:
            return [] if self.closed else self.tracker.close()


def watch_source(library_folder: str, source: str, emit: Callable[[LiveEvent], None], stop: threading.Event,
                 params: WatchParams = WatchParams(), model: str | None = None,
                 state: SourceState | None = None) -> bool:  # fmt: skip
    """Follow one source until it ends, fails for good, or ``stop`` is set; every event goes
    to ``emit``. True unless the source could not be read at all or was given up."""
    lib = Library(library_folder, model=model)
    state = state or SourceState(ReuseTracker(source, params.tracker))
    folder = tempfile.mkdtemp(prefix="reeltrace-watch-")
    clock_s, run, attempts, ok, connected = 0.0, 0, 0, True, False
    broke_at: float | None = None  # when the last connection broke
    held: Playlist | None = None  # an HLS playlist as it was when reading stopped: resume after it
    try:
        while not stop.is_set():
            dropped_at = time.monotonic()
            try:
                container = open_source(source, params.timeout, _resume_at(source, held, params.timeout))
            except _PlaylistEnded:
                break
            except (av.error.FFmpegError, OSError, ValueError) as err:
                attempts += 1
                if not is_url(source) or attempts >= params.max_attempts:
                    emit(LiveEvent("error", source, message=f"cannot read: {one_line(err)}", detected_at=now_iso()))
                    ok = False
                    break
                if connected and broke_at is None:  # before the first read, no clock runs
                    broke_at = dropped_at
                wait = min(2 ** (attempts - 1), 30)
                emit(LiveEvent("reconnect", source, message=f"cannot read ({one_line(err)}); trying again in {wait} s",
                               detected_at=now_iso()))  # fmt: skip
                stop.wait(wait)
                if broke_at is not None and time.monotonic() - broke_at >= params.tracker.end_after:
                    for event in state.end_open():  # off air for longer than a reuse may go unseen
                        emit(event)
                run += 1
                continue
            if broke_at is not None:
                outage = time.monotonic() - broke_at
                clock_s += outage  # the stream went on while it could not be read
                if outage >= params.tracker.end_after:
                    for event in state.end_open():  # what aired meanwhile is unknown
                        emit(event)
                broke_at = None
            attempts, connected, held = 0, True, None
            try:
                clock_s, finished, last_packet_at = _follow(lib, container, state, folder, params, clock_s, run, emit, stop)
            finally:
                container.close()
            if stop.is_set() or not is_url(source):
                break
            why = "ended" if finished else "dropped"
            if is_hls(source):
                held = _playlist_now(source, params.timeout)
                if finished and held is not None and held.ended:
                    break
                if finished:
                    # FFmpeg gave up on a live playlist after HOLD_RELOADS reloads with
                    # nothing new: off air for about five target durations, longer than
                    # ``end_after`` for any usual segment length (2-10 s).
                    why = "stopped growing (a live playlist: no #EXT-X-ENDLIST)"
                    for event in state.end_open():
                        emit(event)
            elif finished and not is_live(source):
                break
            # The clock runs on from the stream's last packet, not from when FFmpeg gave up
            # on it (a read timeout); MPEG-TS holds a stream's last packets until it ends,
            # so for a stalled playlist the two are the same.
            broke_at = last_packet_at
            emit(LiveEvent("reconnect", source, message=f"the source {why}; reconnecting", detected_at=now_iso()))
            run += 1
    finally:
        for event in state.close():
            emit(event)
        lib.close()
        shutil.rmtree(folder, ignore_errors=True)
    return ok


class _PlaylistEnded(Exception):
    """The live playlist that stalled has ended (``#EXT-X-ENDLIST``) with nothing new."""


def _resume_at(source: str, held: Playlist | None, timeout: float) -> int | None:
    """How many of the playlist's last segments to read on reopening it (those that came
    after ``held``); None to open the source as any. Raises OSError while a stalled live
    playlist has nothing new (a failed attempt, retried with the backoff of a drop)."""
    if held is None:
        return None
    now = read_playlist(source, timeout)
    fresh = now.new_since(held)
    if fresh == 0:
        if now.ended:
            raise _PlaylistEnded
        raise OSError("the playlist has no new segment")
    return fresh


def _playlist_now(source: str, timeout: float) -> Playlist | None:
    """The playlist as it is now, or None when it cannot be read (the server is down: the
    source is reopened as after any drop)."""
    try:
        return read_playlist(source, timeout)
    except (OSError, ValueError):
        return None


@dataclass
class Piece:
    """A chunk of the window and its picture's descriptors (times on the watch's clock),
    described once when it came (``StreamDescriber``); None for a stream without picture."""

    chunk: Chunk
    picture: VideoFeatures | None


def _follow(lib: Library, container, state: SourceState, folder: str, params: WatchParams, clock_s: float,
            run: int, emit, stop: threading.Event) -> tuple[float, bool, float]:  # fmt: skip
    """Chunks of one connection, each window scanned; (the clock after it, whether the source
    ended rather than broke, when its last packet came (``time.monotonic``))."""
    window: deque[Piece] = deque()
    describer = StreamDescriber(lib.embedder, lib.video) if container.streams.video else None
    next_sample: float | None = None  # the next instant to sample, on the watch's clock
    end, arrived = clock_s, time.monotonic()
    try:
        for chunk in cut_chunks(container, folder, params.hop, clock_s, run, segmented=is_hls(state.tracker.source)):
            end, arrived = chunk.start + chunk.duration, chunk.received
            if window and window[-1].chunk.run != chunk.run:
                _drop(window, len(window))
            if not window and describer is not None:  # a new run: its picture does not continue the last
                describer.reset()
                next_sample = None
            picture = None
            if describer is not None:
                picture, next_sample = _describe(lib, describer, chunk, next_sample, state.tracker.source, emit)
            window.append(Piece(chunk, picture))
            while len(window) > 1 and end - window[1].chunk.start >= params.window:
                _drop(window, 1)
            first = window[0].chunk.start
            path = join([p.chunk for p in window], os.path.join(folder, "window.ts"))
            result = lib.scan(path, picture=_window_picture(window, end - first, lib.video.sample_fps))
            if result.error:
                emit(LiveEvent("error", state.tracker.source, message=f"window {clock(first)}-{clock(end)}: {result.error}",
                               detected_at=now_iso()))  # fmt: skip
                continue
            for event in state.see(result.matches, first, end):
                emit(event)
            if stop.is_set():
                return end, True, arrived
    except SourceBroken:
        return end, False, arrived
    return end, True, arrived


def _describe(lib: Library, describer: StreamDescriber, chunk: Chunk, next_sample: float | None, source: str,
              emit) -> tuple[VideoFeatures, float | None]:  # fmt: skip
    """The chunk's picture descriptors (times on the watch's clock) and the next instant to
    sample. A chunk whose picture does not decode is that chunk's error event: the window
    is still scanned, on the other chunks' pictures and the sound."""
    config = lib.video
    first = max(next_sample - chunk.start, 0.0) if next_sample is not None else 0.0
    try:
        frames = [SampledFrame(f.time + chunk.start, f.rgb)
                  for f in sample_frames(chunk.path, config.sample_fps, config.views.analysis_long_side, first=first)]  # fmt: skip
    except MediaError as err:
        emit(LiveEvent("error", source, message=f"picture {clock(chunk.start)}-{clock(chunk.start + chunk.duration)}: {err}",
                       detected_at=now_iso()))  # fmt: skip
        describer.reset()
        frames = []
    if frames:
        # On the grid, as ``sample_frames`` keeps it within one file: taken from the last
        # frame's time instead, the instants drifted 0.04 s a chunk, the line fitted at speed
        # 1.05 and bridged 4 s of unregistered footage before the work (tests/test_live.py).
        next_sample = (math.floor(frames[-1].time / config.sample_step + 1e-6) + 1) * config.sample_step
    return describer.describe(frames, chunk.duration), next_sample


def _window_picture(window: deque[Piece], duration: float, fps: float) -> VideoFeatures | None:
    """The window's picture descriptors, times from its first chunk's start."""
    pictures = [p.picture for p in window if p.picture is not None]
    if not pictures:
        return None
    first = window[0].chunk.start
    return VideoFeatures(np.concatenate([p.timestamps for p in pictures]) - first,
                         np.concatenate([p.embeddings for p in pictures]),
                         np.concatenate([p.views for p in pictures]), duration, fps)  # fmt: skip


def _drop(window: deque[Piece], count: int) -> None:
    for _ in range(count):
        piece = window.popleft()
        try:
            os.unlink(piece.chunk.path)
        except OSError:
            pass


def watch(library_folder: str, sources: list[str], out: TextIO, fmt: str = "jsonl",
          params: WatchParams = WatchParams(), model: str | None = None) -> int:  # fmt: skip
    """Watch every source until all end or Ctrl-C (which ends open reuses cleanly); exit
    status 0, or 1 when a source could not be read or was given up."""
    writer = EventWriter(out, fmt, params.queue)
    stop = threading.Event()
    results: dict[str, bool] = {}
    states = {s: SourceState(ReuseTracker(s, params.tracker)) for s in sources}

    def run(source: str) -> None:
        try:
            results[source] = watch_source(library_folder, source, writer.put, stop, params, model, states[source])
        except Exception as err:  # one source's failure is that source's
            writer.put(LiveEvent("error", source, message=f"{type(err).__name__}: {err}", detected_at=now_iso()))
            results[source] = False

    threads = [threading.Thread(target=run, args=(s,), name=f"reeltrace-watch-{i}", daemon=True)
               for i, s in enumerate(sources)]  # fmt: skip
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        # A thread may be waiting on its source for up to ``timeout``: its reuses are ended
        # here, and it is left to stop by itself (daemon threads end with the program).
        stop.set()
        deadline = time.monotonic() + STOP_WAIT
        for t in threads:
            t.join(max(deadline - time.monotonic(), 0.0))
        for source in sources:
            for event in states[source].close():
                writer.put(event)
            results.setdefault(source, True)  # interrupted, not failed
    finally:
        writer.close()
    return 0 if all(results.get(s, False) for s in sources) else 1


STOP_WAIT = 5.0
"""Seconds Ctrl-C waits for the sources' threads (a scan under way ends its window)."""
