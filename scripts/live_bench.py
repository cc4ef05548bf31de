"""Latency benchmark of ``reeltrace watch`` (issue 18): real registered works spliced into a
stream of real unregistered footage, published as live HLS in real time on 127.0.0.1.

    .venv/bin/python scripts/live_bench.py build /work/lb30 --media ../shared/media --media ~/.cache/reeltrace-media
    .venv/bin/python scripts/live_bench.py run /work/lb30                 # the whole stream, real time
    .venv/bin/python scripts/live_bench.py report /work/lb30 --json /work/lb30/report.json
    .venv/bin/python scripts/live_bench.py run /work/lb30 --seconds 7200  # 2 h (the stream loops): memory flat?
    .venv/bin/python scripts/live_bench.py capacity /work/lb30 --max 6 --seconds 180

build OUT
    Footage is grouped by *family*: the origin (the repository a clip was published in), or
    the family ``reeltrace.bench.video.dataset.family_of`` knows it shares footage with (the
    Sintel shots of two origins, the two OpenTalker repositories, Video-LLaVA's screen
    recording of a VideoLLaMA2 clip); every file named after Big Buck Bunny ("bunny",
    "bbb") is the "bbb" family. The works are the film (``film/bbb.mp4`` under a --media
    folder, when present) and the clips of at least ``MIN_WORK`` seconds of ``--work-families``
    other families chosen by the seed. The filler is every clip of every *other* family
    (never footage of a work, nor a copy of it: with the film registered, moviepy's BBB
    excerpts are neither work nor filler), shuffled, repeated when there is less of it than
    the stream needs. Each insertion is 10-40 s of a work (at most the work's length) from a
    random place in it, put at a random place in the filler (the first at >= 30 s, >= 20 s of
    filler between two, >= 20 s after the last), cutting the filler clip there as an ad break
    would. Every piece is encoded on its own to 1280x720 (scaled and padded), 30 fps, H.264
    with a keyframe every 2 s and one at each splice (as splicers insert), exactly its number
    of frames, with exactly as long a PCM sound track (silence where a clip has none); FFmpeg's
    concat demuxer joins them into ``stream.ts``, the picture copied, the sound encoded once
    as one continuous AAC 48 kHz stereo track (sound encoded per piece would leave gaps or
    overlaps at every splice, and a decoder that reads samples in a row would drift from the
    picture). The build checks the frame count and that the sound never jumps. Times in
    ``truth.json`` are whole frames, so they are exact on the built stream. The works are
    registered with the CLI into ``OUT/library``.

run OUT
    ``ffmpeg -re -i stream.ts -c copy -f hls ...`` publishes the stream in real time (stream
    copy: no CPU) into ``OUT/hls/<i>/``, one folder per ``--streams``, served by a
    ``http.server`` thread of this script on 127.0.0.1, and one ``reeltrace watch URL...``
    process follows them all (started first: it retries until the playlist exists). This
    script watches each playlist every 0.25 s and records every segment it lists: its stream
    time (the sum of the EXTINF before it) and its file's mtime, the moment it was written
    whole. The HTTP server records when each segment was fetched. The watch's RSS and CPU
    (its whole process group, from /proc) and the machine's CPU are sampled every 5 s into
    ``resources.csv``. With ``--seconds`` longer than the stream, the stream loops (FFmpeg's
    ``-stream_loop``: timestamps run on) and the truth repeats every stream length. At the
    end the publishers are stopped (they close the playlist), the watch is given 60 s to read
    what was published and end by itself, then stopped; on Ctrl-C, an error or SIGTERM every
    child's process group is killed.

report OUT
    *Latency* is how long after a frame was on the air the watch said so. The wall time
    at which stream second s is on the air is T0 + s, T0 being when its publisher started (a
    live encoder sends second s at T0 + s; ``-re`` does the same): ``start`` latency is the
    ``start`` event's ``detected_at`` minus T0 + the insertion's first frame, ``end`` latency
    the ``end`` event's minus T0 + its last frame. This is what a viewer of the channel would
    measure, HLS's packaging delay included (a frame is fetchable only once the segment
    holding it is written whole, up to one segment, 2-4 s, after it aired), so the report also
    gives the latency from the mtime of that segment (what the watch itself adds), and in
    stream time (``stream_now`` minus the frame's time on the watch's clock: scan time
    excluded). Percentiles are nearest-rank (p95 of 20: the 19th).

    The watch's clock starts at the first segment it read (a live playlist is joined three
    segments from its live edge; the HTTP log says which), so it should differ from the
    stream's by that segment's start, a constant. It need not (a clock that adds up chunk
    durations can drift, a reconnect adds the outage as the watch measured it), so the
    offset is followed through the stream: each event implies one by its own line
    ``work = stream + c`` (work times are the work file's, whatever the clock), and each
    insertion's events give the local offset (``match``). An insertion is *found* when a
    ``start`` of its work lies on its line (±2 s), within 5 s of the offset followed so far,
    and overlaps its stretch ±2 s; a second such ``start`` is a *duplicate*; any other
    ``start`` is a *false event* (wrong work, right work elsewhere in it, or outside every
    insertion). Stream time errors compare the reuse's extent (all its events) with the
    truth put on the watch's clock by the join alone: what a user of the events gets, clock
    errors included, which are also given on their own (local offset minus the join's);
    work time errors need no clock. Stream-time latency uses the local offset. Insertions
    not wholly on the air while the watch read (before it joined, after the run stopped)
    are left out. RSS: first sample,
    median, max, and the least-squares slope in MB per hour after the first minute (model
    load); CPU in % of one core.

capacity OUT
    For N = 1, 2, ... ``--max``: N copies of the stream (3 s apart), one watch, ``--seconds``
    each. Whether a watch keeps up is read from the HTTP server, not from events (a stream
    with no work on air for minutes has none, and ``-v`` logs name no source): the watch
    reads a segment when it has scanned what came before (reading and scanning are one
    thread per source), so its *lag* at segment k is when it fetched k minus when k was
    written. A watch that falls behind by more than the playlist (6 segments, 12-24 s) skips
    segments (FFmpeg's HLS reader jumps to the oldest one listed), which the fetch log shows
    as gaps after segments fetched late; a gap after a segment fetched on time is the watch
    giving the stream up and reopening it past segments (counted, and reported by ``report``
    as lost stream, but not a matter of capacity). N streams are kept up with when no source
    skipped a segment while 6 s or more behind, the lag's p95 over the second half stays
    under 20 s and its slope there under 0.03 s per s (2 s a minute). The watch's CPU (% of
    one core) and the machine's are given beside. Stops at the first N that falls behind.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import functools
import http.server
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

FPS = 30
WIDTH, HEIGHT = 1280, 720
KEYFRAME_S = 2  # one keyframe every 2 s, and one at every splice
AUDIO_RATE = 48_000
MIN_WORK = 20.0  # seconds: a clip this long or longer may be a work
EXCERPT = (10.0, 40.0)  # seconds of a work per insertion
FIRST_AT, GAP, TAIL = 30.0, 20.0, 20.0  # seconds of filler before the first insertion, between two, after the last
TOLERANCE = 2.0  # seconds: an event matches an insertion within this, in stream and in work time
CLOCK_SLACK = 5.0  # seconds the watch's clock may move off the stream's between two insertions and be followed
POLL_S = 0.25  # how often the playlists are read
SAMPLE_S = 5.0  # how often resources are sampled
DRAIN_S = 60.0  # seconds the watch is given to read what was published, once publishing stops
STAGGER_S = 3.0  # seconds between the starts of two copies of the stream
HLS_ARGS = ["-f", "hls", "-hls_time", "2", "-hls_list_size", "6", "-hls_flags", "delete_segments+independent_segments"]
LAG_MAX, LAG_SLOPE_MAX = 20.0, 0.03  # capacity: lag p95 (s) and growth (s/s) over a run's second half
SKIP_LAG = 6.0  # s: a segment skipped after one fetched this late was skipped for being behind (half the playlist)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MEDIA = [os.path.join(os.path.dirname(REPO), "shared", "media"), os.path.expanduser("~/.cache/reeltrace-media")]

console = Console(stderr=True)


class BenchError(Exception):
    """A problem the user can fix: printed as one line."""


# -- media --------------------------------------------------------------------------------------


@dataclass
class Clip:
    path: str
    rel: str  # path under its --media folder
    family: str
    duration: float


VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".ts", ".gif", ".m4v", ".flv", ".wmv")


def family_of(folder: str, path: str) -> str:
    from reeltrace.bench.video.dataset import family_of as dataset_family

    rel = os.path.relpath(path, folder)
    if "bunny" in rel.lower() or "bbb" in rel.lower():
        return "bbb"
    if rel.startswith("film" + os.sep):
        return os.path.splitext(os.path.basename(rel))[0]
    return dataset_family(folder, path)


def find_media(folders: list[str]) -> tuple[list[Clip], Clip | None]:
    """Every video clip under the folders' ``video/`` (durations from MANIFEST.tsv where
    there is one, else ffprobe), and the film ``film/bbb.mp4`` if one folder has it."""
    clips: list[Clip] = []
    film = None
    for folder in folders:
        folder = os.path.abspath(os.path.expanduser(folder))
        if not os.path.isdir(folder):
            raise BenchError(f"--media {folder}: no such folder")
        known: dict[str, float] = {}
        manifest = os.path.join(folder, "MANIFEST.tsv")
        if os.path.exists(manifest):
            with open(manifest, newline="") as fh:
                for row in csv.DictReader(fh, delimiter="\t"):
                    if row.get("kind") == "video":
                        known[row["path"]] = float(row["duration_s"])
        for base, _, names in os.walk(os.path.join(folder, "video")):
            for name in sorted(names):
                path = os.path.join(base, name)
                rel = os.path.relpath(path, folder)
                if not name.lower().endswith(VIDEO_SUFFIXES):
                    continue
                duration = known.get(rel) or probe_duration(path)
                if duration and duration >= 0.5:
                    clips.append(Clip(path, rel, family_of(folder, path), duration))
        candidate = os.path.join(folder, "film", "bbb.mp4")
        if film is None and os.path.exists(candidate):
            film = Clip(candidate, "film/bbb.mp4", "bbb", probe_duration(candidate))
    clips.sort(key=lambda c: c.rel)
    return clips, film


def ffprobe(path: str, *args: str) -> str:
    res = subprocess.run(["ffprobe", "-v", "error", *args, path], capture_output=True, text=True)
    return res.stdout.strip() if res.returncode == 0 else ""


def frames_in(path: str) -> int:
    """The number of picture frames (packets) in a file, read through."""
    out = ffprobe(path, "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0")
    lines = [line for line in out.splitlines() if line.strip().isdigit()]
    return int(lines[0]) if lines else 0


def probe_duration(path: str) -> float:
    try:
        return float(ffprobe(path, "-show_entries", "format=duration", "-of", "csv=p=0"))
    except ValueError:
        return 0.0


@functools.cache
def has_audio(path: str) -> bool:
    return bool(ffprobe(path, "-select_streams", "a", "-show_entries", "stream=index", "-of", "csv=p=0"))


def check_tools() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found on PATH (install FFmpeg: apt-get install ffmpeg)")


# -- build ----------------------------------------------------------------------------------------


@dataclass
class Piece:
    path: str
    start: float  # seconds into the source
    frames: int
    insertion: int = -1  # index into the insertions, -1 for filler


def choose(clips: list[Clip], film: Clip | None, families: int, rng: random.Random) -> tuple[list[Clip], list[Clip]]:
    """(works, filler): whole families on each side, never split."""
    works = [film] if film else []
    taken = {"bbb"} if film else set()
    candidates = sorted({c.family for c in clips if c.duration >= MIN_WORK} - taken)
    rng.shuffle(candidates)
    for family in candidates[:families]:
        works += [c for c in clips if c.family == family and c.duration >= MIN_WORK]
        taken.add(family)
    filler = [c for c in clips if c.family not in taken]
    if not works:
        raise BenchError(f"no work: no --media folder has film/bbb.mp4 or a clip of at least {MIN_WORK:.0f} s")
    if sum(c.duration for c in filler) < 120:
        raise BenchError("less than 2 minutes of unregistered footage left for the filler: give more --media or fewer --work-families")
    return works, filler


def plan(works: list[Clip], filler: list[Clip], minutes: float, count: int, rng: random.Random) -> tuple[list[Piece], list[dict]]:
    """The stream as pieces (filler cut where insertions go), and the insertions."""
    total = round(minutes * 60 * FPS)
    families = sorted({w.family for w in works})
    rng.shuffle(families)
    insertions = []
    fixed = round((FIRST_AT + TAIL + GAP * max(count - 1, 0)) * FPS)
    cap = max(EXCERPT[0], min(EXCERPT[1], 0.8 * (total - fixed) / FPS / max(count, 1)))  # a short stream: shorter excerpts
    for i in range(count):  # the families in turn, a clip of the family at random
        work = rng.choice([w for w in works if w.family == families[i % len(families)]])
        longest = min(cap, work.duration - 0.5)
        frames = rng.randint(round(EXCERPT[0] * FPS), max(round(EXCERPT[0] * FPS), int(longest * FPS)))
        start = round(rng.uniform(0.0, max(work.duration - frames / FPS - 0.3, 0.0)), 3)
        insertions.append({"work": work, "frames": frames, "work_start": start})
    filler_frames = total - sum(x["frames"] for x in insertions)
    if filler_frames < fixed:
        raise BenchError(f"{count} insertions do not fit in {minutes:g} minutes (each needs {GAP:.0f} s of filler around it): "
                         "give more --minutes or fewer --insertions")  # fmt: skip
    slack = filler_frames - fixed
    at = sorted(rng.randint(0, slack) for _ in range(count))
    places = [round(FIRST_AT * FPS) + a + round(GAP * FPS) * i for i, a in enumerate(at)]  # in filler frames
    # The filler: every clip, shuffled, again and again, whole (less a frame), until long enough.
    runs: list[Piece] = []
    have = 0
    while have < filler_frames:
        deck = filler[:]
        rng.shuffle(deck)
        for clip in deck:
            frames = min(int(clip.duration * FPS) - 1, filler_frames - have)
            if frames > 0:
                runs.append(Piece(clip.path, 0.0, frames))
                have += frames
            if have >= filler_frames:
                break
    pieces: list[Piece] = []
    cursor = 0  # filler frames laid so far
    pending = list(enumerate(places))
    for run in runs:
        offset = 0  # frames of this run laid
        while pending and pending[0][1] < cursor + run.frames - offset:
            i, place = pending.pop(0)
            cut = place - cursor
            if cut > 0:
                pieces.append(Piece(run.path, run.start + offset / FPS, cut))
                offset += cut
                cursor += cut
            x = insertions[i]
            pieces.append(Piece(x["work"].path, x["work_start"], x["frames"], i))
        rest = run.frames - offset
        if rest > 0:
            pieces.append(Piece(run.path, run.start + offset / FPS, rest))
            cursor += rest
    for i, place in pending:  # at the very end of the filler
        x = insertions[i]
        pieces.append(Piece(x["work"].path, x["work_start"], x["frames"], i))
    return pieces, insertions


def encode(piece: Piece, out: str) -> None:
    """One piece as Matroska: exactly ``piece.frames`` frames of 1280x720 at 30 fps, H.264 with
    a keyframe every 2 s (the first at its first frame), and exactly as long a sound track
    as 16-bit PCM, stereo, 48 kHz (``frames * 1600`` samples), so that the pieces join without
    a gap or an overlap. Both are cut by filters (``trim``, ``atrim``), not by ``-frames:v``,
    which would end the whole file when the picture ends, the sound still in the encoder."""
    samples = piece.frames * AUDIO_RATE // FPS
    video = (f"setpts=PTS-STARTPTS,scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease,pad={WIDTH}:{HEIGHT}:(ow-iw)/2:(oh-ih)/2,"
             f"setsar=1,fps={FPS},tpad=stop_mode=clone:stop=-1,trim=end_frame={piece.frames},format=yuv420p")  # fmt: skip
    # async: a source whose sound has holes (timestamps that jump) gets them filled with silence
    sound = f"asetpts=PTS-STARTPTS,aresample={AUDIO_RATE}:async=1:min_hard_comp=0.01:first_pts=0,aformat=sample_fmts=s16:channel_layouts=stereo,apad,atrim=end_sample={samples}"
    seek = ["-ss", f"{piece.start:.3f}"] if piece.start > 0 else []
    codecs = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-maxrate", "4M", "-bufsize", "8M",
              "-g", str(FPS * KEYFRAME_S), "-keyint_min", str(FPS * KEYFRAME_S), "-sc_threshold", "0",
              "-force_key_frames", f"expr:gte(t,n_forced*{KEYFRAME_S})", "-c:a", "pcm_s16le", "-f", "matroska", out]  # fmt: skip
    base = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *seek, "-i", piece.path]
    silence = ["-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo"]
    attempts = []
    if has_audio(piece.path):
        attempts.append([*base, "-map", "0:v:0", "-map", "0:a:0", "-vf", video, "-af", sound, *codecs])
    attempts.append([*base, *silence, "-map", "0:v:0", "-map", "1:a:0", "-vf", video, "-af", sound, *codecs])
    for cmd in attempts:  # a clip whose sound does not decode gets silence
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode == 0:
            if (got := frames_in(out)) != piece.frames:
                raise BenchError(f"ffmpeg made {got} frames of {piece.path} at {piece.start:.2f} s, not {piece.frames}")
            return
    raise BenchError(f"ffmpeg could not encode {piece.path} at {piece.start:.2f} s: {res.stderr.strip().splitlines()[-1:]}")


def sound_gaps(path: str) -> list[tuple[float, float]]:
    """(where, how long) of every jump over 5 ms in the sound's packet timestamps."""
    out = ffprobe(path, "-select_streams", "a:0", "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0")
    rows = []
    for line in out.splitlines():
        parts = line.strip().split(",")
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except (ValueError, IndexError):
            continue
    return [(p, q - p - d) for (p, d), (q, _) in zip(rows, rows[1:]) if abs(q - p - d) > 0.005]


def register(library: str, work: Clip) -> str:
    if work.family == "bbb":
        meta = ["--title", "Big Buck Bunny", "--owner", "Blender Foundation", "--category", "animation"]
    else:
        meta = ["--title", os.path.basename(work.path), "--owner", work.rel.split(os.sep)[1], "--category", "short"]
    cmd = [sys.executable, "-m", "reeltrace", "--library", library, "register", work.path, *meta, "-q"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    for line in res.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] in ("registered", "already registered"):
            return parts[0]
    raise BenchError(f"reeltrace register {work.path} failed: {(res.stderr.strip().splitlines() or ['no output'])[-1]}")


def cmd_build(args: argparse.Namespace) -> int:
    check_tools()
    out = os.path.abspath(args.out)
    if os.path.exists(os.path.join(out, "truth.json")) and not args.force:
        raise BenchError(f"{out} is already built (truth.json): remove it, choose another folder, or give --force")
    media = args.media or [m for m in DEFAULT_MEDIA if os.path.isdir(m)]
    if not media:
        raise BenchError("no --media folder (expected ../shared/media or ~/.cache/reeltrace-media)")
    clips, film = find_media(media)
    if not clips and film is None:
        raise BenchError(f"no video under {', '.join(media)} (a folder with video/<origin>/... or film/bbb.mp4)")
    rng = random.Random(args.seed)
    works, filler = choose(clips, film, args.work_families, rng)
    pieces, insertions = plan(works, filler, args.minutes, args.insertions, rng)
    for d in ("pieces", "library"):
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    os.makedirs(os.path.join(out, "pieces"))
    total = sum(p.frames for p in pieces)
    console.print(f"{len(works)} works ({len({w.family for w in works})} families), {len(filler)} filler clips "
                  f"({len({c.family for c in filler})} families, {sum(c.duration for c in filler) / 60:.1f} min), "
                  f"{len(pieces)} pieces, {total / FPS / 60:.1f} min")  # fmt: skip
    listing = []
    with _progress() as progress:
        task = progress.add_task("encoding the stream (seconds)", total=round(total / FPS))
        done = 0
        for k, piece in enumerate(pieces):
            path = os.path.join(out, "pieces", f"piece{k:04d}.mkv")
            encode(piece, path)
            listing.append(f"file '{path}'\nduration {piece.frames / FPS:.6f}\n")
            done += piece.frames
            progress.update(task, completed=round(done / FPS))
    with open(os.path.join(out, "pieces", "list.txt"), "w") as fh:
        fh.writelines(listing)
    stream = os.path.join(out, "stream.ts")
    res = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                          os.path.join(out, "pieces", "list.txt"), "-map", "0:v", "-map", "0:a", "-c:v", "copy",
                          "-c:a", "aac", "-b:a", "128k", "-f", "mpegts", stream], capture_output=True, text=True)  # fmt: skip
    if res.returncode != 0:
        raise BenchError(f"ffmpeg could not join the pieces: {res.stderr.strip().splitlines()[-1:]}")
    counted = frames_in(stream)
    if counted != total:
        raise BenchError(f"the joined stream has {counted} frames, the plan {total}: the truth would be wrong")
    if gaps := sound_gaps(stream):
        raise BenchError(f"the joined stream's sound jumps {len(gaps)} times (first at {gaps[0][0]:.2f} s by {gaps[0][1]:+.3f} s)")
    shutil.rmtree(os.path.join(out, "pieces"))
    library = os.path.join(out, "library")
    ids = {}
    with _progress() as progress:
        task = progress.add_task("registering the works", total=len(works))
        for work in works:
            ids[work.path] = register(library, work)
            progress.advance(task)
    at, rows = 0, []
    for piece in pieces:
        if piece.insertion >= 0:
            x = insertions[piece.insertion]
            rows.append({"index": piece.insertion, "work_id": ids[x["work"].path], "work_file": x["work"].path,
                         "family": x["work"].family, "stream_start": round(at / FPS, 4),
                         "stream_end": round((at + piece.frames) / FPS, 4), "work_start": x["work_start"],
                         "work_end": round(x["work_start"] + piece.frames / FPS, 4)})  # fmt: skip
        at += piece.frames
    rows.sort(key=lambda r: r["stream_start"])
    truth = {"version": 1, "seed": args.seed, "fps": FPS, "size": [WIDTH, HEIGHT], "keyframe_s": KEYFRAME_S,
             "duration": round(total / FPS, 4), "stream": stream, "library": library,
             "works": [{"work_id": ids[w.path], "path": w.path, "family": w.family, "duration": w.duration} for w in works],
             "filler": [{"path": c.path, "family": c.family, "duration": c.duration} for c in filler],
             "insertions": rows}  # fmt: skip
    _write_json(os.path.join(out, "truth.json"), truth)
    console.print(f"wrote {stream} ({total / FPS:.0f} s, {len(rows)} insertions of {len(works)} works) and {out}/truth.json")
    return 0


# -- run --------------------------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the HLS folders and notes when each file was asked for."""

    fetches: list[tuple[float, str, int]]

    def log_request(self, code="-", size="-") -> None:
        try:
            status = int(code)
        except ValueError:
            status = 0
        self.fetches.append((time.time(), self.path, status))

    def log_message(self, *args) -> None:
        pass


@dataclass
class Segment:
    seq: int
    name: str
    duration: float
    seen: float  # wall time this script first saw it listed
    mtime: float  # wall time its file was last written
    start: float = 0.0  # stream seconds, filled in at the end


class Publisher:
    """One copy of the stream: ``ffmpeg -re ... -f hls`` into its folder, and the segments its
    playlist listed, as they appeared."""

    def __init__(self, index: int, stream: str, folder: str, loop: bool):
        self.index, self.folder = index, folder
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        self.cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", *(["-stream_loop", "-1"] if loop else []),
                    "-i", stream, "-c", "copy", *HLS_ARGS, os.path.join(folder, "index.m3u8")]  # fmt: skip
        self.segments: dict[int, Segment] = {}
        self.proc: subprocess.Popen | None = None
        self.t0 = 0.0

    def start(self, err) -> None:
        self.t0 = time.time()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                     start_new_session=True)  # fmt: skip

    def poll(self) -> None:
        try:
            with open(os.path.join(self.folder, "index.m3u8")) as fh:
                text = fh.read()
        except OSError:
            return
        seq, duration = 0, None
        for line in text.splitlines():
            if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                seq = int(line.split(":", 1)[1])
            elif line.startswith("#EXTINF:"):
                duration = float(line.split(":", 1)[1].split(",")[0])
            elif line and not line.startswith("#"):
                if seq not in self.segments and duration is not None:
                    try:
                        mtime = os.stat(os.path.join(self.folder, line)).st_mtime
                    except OSError:
                        mtime = time.time()
                    self.segments[seq] = Segment(seq, line, duration, time.time(), mtime)
                seq += 1
                duration = None

    def table(self) -> list[Segment]:
        """The segments in order, with their stream times (a missed one counts its nominal 2 s)."""
        at, out, prev = 0.0, [], -1
        for seq in sorted(self.segments):
            at += (seq - prev - 1) * 2.0
            seg = self.segments[seq]
            seg.start = round(at, 4)
            at += seg.duration
            out.append(seg)
            prev = seq
        return out


def _pgroup(pid: int) -> list[int]:
    """The processes of the group ``pid`` leads."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pid:  # pgrp
                out.append(int(name))
    return out


class Sampler:
    """RSS and CPU of a process group, and the machine's CPU, into a CSV file every SAMPLE_S."""

    def __init__(self, path: str, pid: int):
        self.pid, self.fh = pid, open(path, "w", newline="")
        self.csv = csv.writer(self.fh)
        self.csv.writerow(["wall", "elapsed_s", "rss_mb", "cpu_pct", "machine_busy_pct", "load1"])
        self.started = time.time()
        self.last: tuple[float, float, tuple[int, int]] | None = None
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.page = os.sysconf("SC_PAGE_SIZE")

    def sample(self) -> None:
        cpu, rss = 0, 0
        for pid in _pgroup(self.pid):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cpu += int(fields[11]) + int(fields[12])  # utime + stime
            rss += int(fields[21]) * self.page
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        machine = (sum(values) - values[3] - values[4], sum(values))
        now = time.time()
        if self.last is not None and rss:
            wall, cpu0, (busy0, all0) = self.last
            pct = 100.0 * (cpu - cpu0) / self.ticks / max(now - wall, 1e-6)
            busy = 100.0 * (machine[0] - busy0) / max(machine[1] - all0, 1)
            self.csv.writerow([f"{now:.3f}", f"{now - self.started:.1f}", f"{rss / 1e6:.1f}", f"{pct:.1f}", f"{busy:.1f}",
                               f"{os.getloadavg()[0]:.2f}"])  # fmt: skip
            self.fh.flush()
        self.last = (now, cpu, machine)

    def close(self) -> None:
        self.fh.close()


def _stop(proc: subprocess.Popen | None, sig: int, wait: float) -> None:
    """Send ``sig`` to the process group of ``proc`` and wait; kill the group if it is still there."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever it left behind, too
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _interrupt(*_) -> None:
    raise KeyboardInterrupt  # SIGTERM: the same clean-up as Ctrl-C


def run_streams(out: str, truth: dict, streams: int, seconds: float | None, label: str) -> dict:
    """Publish ``streams`` copies of the stream and watch them with one ``reeltrace watch``."""
    check_tools()
    for name in ("events.jsonl", "resources.csv", "run.json"):
        if os.path.exists(os.path.join(out, name)):
            os.unlink(os.path.join(out, name))
    os.makedirs(out, exist_ok=True)
    hls = os.path.join(out, "hls")
    shutil.rmtree(hls, ignore_errors=True)
    duration = truth["duration"]
    whole = seconds is None  # until the publishers reach the stream's end
    seconds = duration if whole else seconds
    loop = seconds > duration + 1
    fetches: list[tuple[float, str, int]] = []
    handler = type("Handler", (_Handler,), {"fetches": fetches})
    publishers = [Publisher(i, truth["stream"], os.path.join(hls, str(i)), loop) for i in range(streams)]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=hls))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    urls = [f"http://127.0.0.1:{port}/{i}/index.m3u8" for i in range(streams)]
    events_path = os.path.join(out, "events.jsonl")
    cmd = [sys.executable, "-m", "reeltrace", "--library", truth["library"], "watch", *urls, "--format", "jsonl",
           "--output", events_path]  # fmt: skip
    watch_err = open(os.path.join(out, "watch.err"), "w")
    ffmpeg_err = open(os.path.join(out, "ffmpeg.err"), "w")
    watch = None
    info: dict = {"streams": streams, "seconds": seconds, "loop": loop, "duration": duration, "port": port, "cmd": cmd}
    sampler = None
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        info["watch_started"] = time.time()
        watch = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=watch_err, cwd=REPO,
                                 start_new_session=True)  # fmt: skip
        sampler = Sampler(os.path.join(out, "resources.csv"), watch.pid)
        next_sample = time.time()
        starts = [time.time() + i * STAGGER_S for i in range(streams)]
        with _progress() as progress:
            task = progress.add_task(label, total=round(seconds + (streams - 1) * STAGGER_S))
            stopped_at = None
            while True:
                now = time.time()
                for p, at in zip(publishers, starts, strict=True):
                    if p.proc is None and now >= at:
                        p.start(ffmpeg_err)
                    p.poll()
                if now >= next_sample:
                    sampler.sample()
                    next_sample += SAMPLE_S
                if watch.poll() is not None:
                    break
                if stopped_at is None:
                    over = publishers[-1].proc is not None and now - publishers[-1].t0 >= seconds + (30.0 if whole else 0.0)
                    ended = all(p.proc is not None and p.proc.poll() is not None for p in publishers)
                    if over or ended:
                        for p in publishers:  # SIGINT: FFmpeg closes the playlist (ENDLIST), the watch reads on to it
                            _stop(p.proc, signal.SIGINT, 10.0)
                            p.poll()
                        stopped_at = time.time()
                        info["published_until"] = stopped_at
                        progress.update(task, description=f"{label}: publishing stopped, the watch reads what is left")
                elif now - stopped_at > DRAIN_S:
                    break
                progress.update(task, completed=min(round(now - starts[0]), progress.tasks[0].total))
                time.sleep(POLL_S)
        if watch.poll() is None:
            _stop(watch, signal.SIGINT, 15.0)  # ends the open reuses
        info["watch_rc"] = watch.returncode
    finally:
        signal.signal(signal.SIGTERM, previous)
        for p in publishers:
            _stop(p.proc, signal.SIGTERM, 3.0)
        _stop(watch, signal.SIGINT, 10.0)
        server.shutdown()
        server.server_close()
        if sampler:
            sampler.close()
        watch_err.close()
        ffmpeg_err.close()
        info["stopped"] = time.time()
        info["sources"] = [{"url": url, "t0": p.t0, "segments": [asdict(s) for s in p.table()],
                            "fetches": [(t, path, code) for t, path, code in fetches if path.startswith(f"/{p.index}/")]}
                           for url, p in zip(urls, publishers, strict=True)]  # fmt: skip
        _write_json(os.path.join(out, "run.json"), info)
    if info.get("watch_rc") not in (0, None):
        tail = open(os.path.join(out, "watch.err")).read().strip().splitlines()[-1:]
        console.print(f"the watch exited with status {info['watch_rc']}: {tail}", markup=False)
    return info


def cmd_run(args: argparse.Namespace) -> int:
    out = os.path.abspath(args.out)
    truth = load_truth(out)
    if args.streams < 1:
        raise BenchError("--streams must be at least 1")
    run_streams(out, truth, args.streams, args.seconds, f"{args.streams} stream(s), real time")
    console.print(f"wrote {out}/events.jsonl, resources.csv, run.json; now: live_bench.py report {args.out}")
    return 0


def load_truth(out: str) -> dict:
    """OUT's truth.json, or that of the build a capacity run's folder (OUT/capacity/N) is in."""
    for folder in (out, os.path.dirname(os.path.dirname(out))):
        path = os.path.join(folder, "truth.json")
        if os.path.exists(path):
            break
    else:
        raise BenchError(f"{os.path.join(out, 'truth.json')} not found: run 'live_bench.py build {out}' first")
    truth = json.load(open(path))
    for key in ("stream", "library"):
        if not os.path.exists(truth[key]):
            raise BenchError(f"{truth[key]} is missing: build {out} again")
    return truth


# -- report ---------------------------------------------------------------------------------------


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


def _stats(values: list[float]) -> dict:
    return {"n": len(values), "median": _r(pct(values, 50)), "p95": _r(pct(values, 95)), "max": _r(max(values) if values else None)}


def _r(v: float | None, digits: int = 3) -> float | None:
    return None if v is None else round(v, digits)


def _line(e: dict) -> float:
    return e["work_start"] - e["stream_start"]


def estimate_offset(starts: list[dict], insertions: list[dict]) -> float | None:
    """The watch's clock minus the stream's from the start events alone (for a watch whose
    join the HTTP log does not show): each start on an insertion's line implies an offset;
    the densest cluster (±1 s), then its median."""
    candidates = []
    for e in starts:
        for x in insertions:
            if e["work_id"] == x["work_id"]:
                c = (x["work_start"] - x["stream_start"]) - _line(e)
                if x["stream_start"] - TOLERANCE <= e["stream_start"] - c <= x["stream_end"] + TOLERANCE:
                    candidates.append(c)
    if not candidates:
        return None
    best = max(candidates, key=lambda c: sum(abs(d - c) <= 1.0 for d in candidates))
    return statistics.median(d for d in candidates if abs(d - best) <= TOLERANCE)


def match(reuse: list[dict], insertions: list[dict], offset: float) -> tuple[dict[int, tuple[float, list[dict]]], list[tuple[float, float]]]:
    """The events of each insertion, following the watch's clock through the stream.

    An event is on insertion x when it names x's work, lies on x's line ``work = stream + c``
    (its own ``work_start - stream_start`` gives c), c is within CLOCK_SLACK of the clock
    offset followed so far, and its stretch, put on the stream's clock by c, overlaps x's
    ±TOLERANCE. Of those, the ones within TOLERANCE of their median c are x's (others are
    the work elsewhere). Each found insertion moves the followed offset to its median c, so
    a clock that drifts or jumps (a reconnect) is followed, a jump over CLOCK_SLACK is not.
    Returns {id(x): (c, events)} and the (stream time, c) followed."""
    out: dict[int, tuple[float, list[dict]]] = {}
    followed = [(0.0, offset)]
    for x in sorted(insertions, key=lambda x: x["stream_start"]):
        near = []
        for e in reuse:
            if e["work_id"] != x["work_id"]:
                continue
            c = (x["work_start"] - x["stream_start"]) - _line(e)
            if abs(c - offset) <= CLOCK_SLACK and e["stream_start"] - c <= x["stream_end"] + TOLERANCE and e["stream_end"] - c >= x["stream_start"] - TOLERANCE:
                near.append((c, e))
        if not near:
            continue
        local = statistics.median(c for c, _ in near)
        out[id(x)] = (local, [e for c, e in near if abs(c - local) <= TOLERANCE])
        offset = local
        followed.append((x["stream_start"], local))
    return out, followed


def _offset_at(followed: list[tuple[float, float]], t: float) -> float:
    """The clock offset followed up to stream time ``t``."""
    return [c for at, c in followed if at <= t + TOLERANCE][-1]


def _segment_at(segments: list[dict], s: float) -> dict | None:
    starts = [g["start"] for g in segments]
    k = bisect.bisect_right(starts, s) - 1
    if k < 0 or s >= segments[k]["start"] + segments[k]["duration"] + 0.5:
        return None
    return segments[k]


def fetch_stats(source: dict) -> dict:
    """From the HTTP log: the segments the watch fetched, skipped, and how late."""
    by_name = {g["name"]: g for g in source["segments"]}
    fetched: dict[int, float] = {}
    for t, path, code in source["fetches"]:
        g = by_name.get(path.rsplit("/", 1)[-1])
        if g is not None and code == 200 and g["seq"] not in fetched:
            fetched[g["seq"]] = t
    if not fetched:
        return {"fetched": 0, "skipped": 0, "skipped_behind": 0, "first": None, "lags": []}
    first, last = min(fetched), max(fetched)
    skipped = [seq for seq in range(first, last + 1) if seq not in fetched]
    published = {g["seq"]: g for g in source["segments"]}
    lag_of = {k: fetched[k] - published[k]["mtime"] for k in fetched if k in published}
    lags = [(published[k]["mtime"], lag_of[k]) for k in sorted(lag_of)]
    # A reader that falls behind is skipped past segments that left the playlist: it was
    # well behind just before. A gap after a segment fetched on time is the reader's own
    # doing (it gave the stream up and reopened it past them).
    behind = [seq for seq in skipped if lag_of.get(max((k for k in fetched if k < seq), default=first), 0.0) >= SKIP_LAG]
    newest = max(source["segments"], key=lambda g: g["seq"])
    return {"fetched": len(fetched), "skipped": len(skipped), "skipped_behind": len(behind), "skipped_seqs": skipped[:50], "first": first,
            "first_start": published[first]["start"] if first in published else None, "last": last,
            "behind_at_end_s": round(newest["start"] + newest["duration"] - published[last]["start"] - published[last]["duration"], 3)
            if last in published else None, "lags": lags}  # fmt: skip


def analyse(out: str) -> dict:
    truth = load_truth(out)
    run_path = os.path.join(out, "run.json")
    if not os.path.exists(run_path):
        raise BenchError(f"{run_path} not found: run 'live_bench.py run {out}' first")
    run = json.load(open(run_path))
    events = []
    events_path = os.path.join(out, "events.jsonl")
    if os.path.exists(events_path):
        with open(events_path) as fh:
            for line in fh:
                if line.strip():
                    events.append(json.loads(line))
    duration = truth["duration"]
    rows, false_events, warnings, per_source = [], [], [], []
    for si, source in enumerate(run["sources"]):
        mine = [e for e in events if e.get("source") == source["url"]]
        reuse = [e for e in mine if e["event"] in ("start", "update", "end")]
        starts = [e for e in reuse if e["event"] == "start"]
        segments = source["segments"]
        if not segments:
            warnings.append(f"stream {si}: nothing was published")
            continue
        published_end = segments[-1]["start"] + segments[-1]["duration"]
        loops = math.ceil(published_end / duration)
        every = [dict(x, stream_start=x["stream_start"] + k * duration, stream_end=x["stream_end"] + k * duration, loop=k)
                 for k in range(loops) for x in truth["insertions"]]  # fmt: skip
        fetch = fetch_stats(source)
        joined = fetch.get("first_start")
        by_events = estimate_offset(starts, every)
        anchor = -joined if joined is not None else by_events
        if anchor is None:
            warnings.append(f"stream {si}: no segment fetched and no event: the watch never read it")
            anchor = 0.0
        if fetch["skipped"]:
            warnings.append(f"stream {si}: the watch skipped {fetch['skipped']} segment(s) "
                            f"(seq {', '.join(map(str, fetch['skipped_seqs'][:10]))}): it fell behind or reopened past them")  # fmt: skip
        for e in mine:
            if e["event"] in ("error", "dropped"):
                warnings.append(f"stream {si}: {e['event']} at {e['detected_at']}: {e['message']}")
        drops = [e for e in mine if e["event"] == "reconnect" and "reconnecting" in e["message"]]
        if drops:
            warnings.append(f"stream {si}: the watch lost the stream {len(drops)} times, first at {drops[0]['detected_at']}: "
                            f"{drops[0]['message']}")  # fmt: skip
        matched, followed = match(reuse, every, anchor)
        t0 = source["t0"]
        mine_ids: set[int] = set()
        clock_errors = []
        for x in every:
            local, on = matched.get(id(x), (None, []))
            mine_ids.update(id(e) for e in on)
            if not ((joined or 0.0) <= x["stream_start"] and x["stream_end"] <= published_end):
                continue  # not wholly on the air while the watch read
            # A reuse that began at a look-alike place and was moved to its true line by an
            # update (``live.tracker``: one airing at one place) is this insertion's: its
            # start is found by its ``reuse`` number, and counted as re-lined, not false.
            numbers = {e.get("reuse") for e in on if e.get("reuse")}
            on_ids = {id(e) for e in on}
            relined = [e for e in starts if e.get("reuse") in numbers and id(e) not in on_ids]
            mine_ids.update(id(e) for e in relined)
            x_starts = [e for e in on if e["event"] == "start"] + relined
            row = {"stream": si, "loop": x["loop"], "index": x["index"], "work_id": x["work_id"],
                   "work": os.path.basename(x["work_file"]), "stream_start": x["stream_start"],
                   "stream_end": x["stream_end"], "found": bool(x_starts), "duplicates": max(len(x_starts) - 1, 0),
                   "relined": len(relined)}  # fmt: skip
            first, last = x["stream_start"], x["stream_end"] - 1.0 / truth["fps"]
            if local is not None:
                row["clock_error"] = local - anchor
                clock_errors.append((x["stream_start"], local - anchor))
            if x_starts:
                e = min(x_starts, key=lambda e: _wall(e["detected_at"]))
                seg = _segment_at(segments, first)
                row["start_wall"] = _wall(e["detected_at"]) - (t0 + first)
                row["start_segment"] = _wall(e["detected_at"]) - seg["mtime"] if seg else None
                row["start_stream"] = e["stream_now"] - (first + local)
            ends = [e for e in on if e["event"] == "end"]
            if ends:
                e = max(ends, key=lambda e: e["stream_end"])
                seg = _segment_at(segments, last)
                row["end_wall"] = _wall(e["detected_at"]) - (t0 + last)
                row["end_segment"] = _wall(e["detected_at"]) - seg["mtime"] if seg else None
                row["end_stream"] = e["stream_now"] - (last + local)
            if on:
                row["err_stream_start"] = abs(min(e["stream_start"] for e in on) - anchor - x["stream_start"])
                row["err_stream_end"] = abs(max(e["stream_end"] for e in on) - anchor - x["stream_end"])
                row["err_work_start"] = abs(min(e["work_start"] for e in on) - x["work_start"])
                row["err_work_end"] = abs(max(e["work_end"] for e in on) - x["work_end"])
            rows.append(row)
        for e in starts:
            if id(e) in mine_ids:
                continue
            offset = _offset_at(followed, e["stream_start"] - anchor)
            s0, s1 = e["stream_start"] - offset, e["stream_end"] - offset
            near = [x for x in every if s0 <= x["stream_end"] + TOLERANCE and s1 >= x["stream_start"] - TOLERANCE]
            kind = ("elsewhere in the work" if any(x["work_id"] == e["work_id"] for x in near)
                    else "wrong work" if near else "outside every insertion")  # fmt: skip
            false_events.append({"stream": si, "kind": kind, "work_id": e["work_id"], "title": e["title"],
                                 "stream_start": round(s0, 2), "stream_end": round(s1, 2), "work_start": e["work_start"],
                                 "work_end": e["work_end"], "modality": e["modality"], "score": e["score"],
                                 "detected_at": e["detected_at"]})  # fmt: skip
        worst = max(clock_errors, key=lambda p: abs(p[1]), default=None)
        if worst is not None and abs(worst[1]) > 1.0:
            warnings.append(f"stream {si}: the watch's stream clock is {worst[1]:+.1f} s off the stream's at stream "
                            f"{worst[0]:.0f} s (its stream_start/stream_end are that far off)")  # fmt: skip
        lag_values = [lag for _, lag in fetch["lags"]]
        per_source.append({"url": source["url"], "joined_at": _r(joined), "offset_by_events": _r(by_events),
                           "clock_error": [(_r(t, 1), _r(c)) for t, c in clock_errors],
                           "segments_published": len(segments), "fetched": fetch["fetched"], "skipped": fetch["skipped"],
                           "fetch_lag": _stats(lag_values), "behind_at_end_s": fetch.get("behind_at_end_s"),
                           "publisher_delay": _r(statistics.median(g["mtime"] - (t0 + g["start"] + g["duration"]) for g in segments)),
                           "events": {k: sum(e["event"] == k for e in mine) for k in ("start", "update", "end", "error", "reconnect", "dropped")}})  # fmt: skip
    resources = read_resources(os.path.join(out, "resources.csv"))

    def col(key: str) -> list[float]:
        return [r[key] for r in rows if r.get(key) is not None]

    found = sum(r["found"] for r in rows)
    return {
        "found": found, "insertions": len(rows), "duplicates": sum(r["duplicates"] for r in rows),
        "relined": sum(r.get("relined", 0) for r in rows),
        "false_events": len(false_events), "false": false_events,
        "latency": {"start_wall": _stats(col("start_wall")), "start_after_segment": _stats(col("start_segment")),
                    "start_stream": _stats(col("start_stream")), "end_wall": _stats(col("end_wall")),
                    "end_after_segment": _stats(col("end_segment")), "end_stream": _stats(col("end_stream")),
                    "ended": len(col("end_wall"))},
        "errors": {k: _stats(col("err_" + k)) for k in ("stream_start", "stream_end", "work_start", "work_end")},
        "clock_error": _stats([abs(v) for v in col("clock_error")]),
        "resources": resources, "sources": per_source, "warnings": warnings,
        "run": {"streams": run["streams"], "seconds": run["seconds"], "watch_rc": run.get("watch_rc")},
        "rows": [{k: _r(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows],
    }  # fmt: skip


def read_resources(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as fh:
        samples = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    if not samples:
        return {}
    rss = [s["rss_mb"] for s in samples]
    steady = [s for s in samples if s["elapsed_s"] >= 60.0] or samples
    slope = None
    if len(steady) >= 3:
        xs = [s["elapsed_s"] / 3600 for s in steady]
        ys = [s["rss_mb"] for s in steady]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        var = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else None
    return {"samples": len(samples), "hours": _r(samples[-1]["elapsed_s"] / 3600), "rss_first_mb": rss[0],
            "rss_median_mb": statistics.median(rss), "rss_max_mb": max(rss), "rss_slope_mb_per_hour": _r(slope, 1),
            "cpu_mean_pct": _r(statistics.fmean(s["cpu_pct"] for s in samples), 1),
            "cpu_median_pct": _r(statistics.median(s["cpu_pct"] for s in samples), 1),
            "machine_busy_mean_pct": _r(statistics.fmean(s["machine_busy_pct"] for s in samples), 1)}  # fmt: skip


def _f(v, unit: str = "") -> str:
    return "-" if v is None else f"{v:.1f}{unit}" if isinstance(v, float) else str(v)


def _out() -> Console:
    """Standard output; wide enough for the tables when it is a file or a pipe."""
    return Console() if sys.stdout.isatty() else Console(width=170)


def print_report(result: dict) -> None:
    out = _out()
    table = Table(title="insertions (latency in s: wall from T0+s / from segment written / stream time; errors in s: "
                        "start / end; clock: the watch's clock minus the stream's, less the join)")
    for name in ("#", "work", "stream s", "found", "start latency", "end latency", "stream err", "work err", "clock"):
        table.add_column(name)
    for r in result["rows"]:
        table.add_row(
            f"{r['stream']}.{r['loop']}.{r['index']}", r["work"][:28], f"{r['stream_start']:.1f}-{r['stream_end']:.1f}",
            ("yes" + (f" (+{r['duplicates']})" if r["duplicates"] else "")) if r["found"] else "[red]MISSED[/red]",
            f"{_f(r.get('start_wall'))} / {_f(r.get('start_segment'))} / {_f(r.get('start_stream'))}",
            f"{_f(r.get('end_wall'))} / {_f(r.get('end_segment'))} / {_f(r.get('end_stream'))}",
            f"{_f(r.get('err_stream_start'))} / {_f(r.get('err_stream_end'))}",
            f"{_f(r.get('err_work_start'))} / {_f(r.get('err_work_end'))}", _f(r.get("clock_error")),
        )  # fmt: skip
    out.print(table)
    summary = Table(title="summary (target: start and end p95 <= 10 s after the frame, 0 false events)")
    summary.add_column("measure")
    summary.add_column("median")
    summary.add_column("p95")
    summary.add_column("max")
    for key, name in (("start_wall", "start latency, from T0 + s"), ("start_after_segment", "start latency, from segment written"),
                      ("start_stream", "start latency, stream time"), ("end_wall", "end latency, from T0 + s"),
                      ("end_after_segment", "end latency, from segment written"), ("end_stream", "end latency, stream time")):  # fmt: skip
        s = result["latency"][key]
        summary.add_row(name, _f(s["median"], " s"), _f(s["p95"], " s"), _f(s["max"], " s"))
    for key, s in result["errors"].items():
        summary.add_row(f"|{key.replace('_', ' ')} error|", _f(s["median"], " s"), _f(s["p95"], " s"), _f(s["max"], " s"))
    s = result["clock_error"]
    summary.add_row("|watch clock - stream clock| at insertions", _f(s["median"], " s"), _f(s["p95"], " s"), _f(s["max"], " s"))
    out.print(summary)
    res = result["resources"]
    out.print(f"found {result['found']}/{result['insertions']}, ended {result['latency']['ended']}, "
              f"duplicates {result['duplicates']}, started at a look-alike place and moved to the true line "
              f"{result['relined']}, false events {result['false_events']}")  # fmt: skip
    for f in result["false"]:
        out.print(f"  false: stream {f['stream']} {f['kind']}: {f['title']} ({f['work_id']}) stream {f['stream_start']}-{f['stream_end']} "
                  f"work {f['work_start']} score {f['score']}")  # fmt: skip
    if res:
        out.print(f"watch RSS {res['rss_first_mb']:.0f} MB first, {res['rss_median_mb']:.0f} median, {res['rss_max_mb']:.0f} max, "
                  f"slope {_f(res['rss_slope_mb_per_hour'])} MB/h over {res['hours']:.2f} h; CPU {res['cpu_mean_pct']}% of one "
                  f"core (mean), machine {res['machine_busy_mean_pct']}% busy")  # fmt: skip
    for s in result["sources"]:
        out.print(f"{s['url']}: joined at stream {s['joined_at']} s (start events imply {s['offset_by_events']}), "
                  f"{s['fetched']}/{s['segments_published']} segments fetched, {s['skipped']} skipped, "
                  f"fetch lag median {_f(s['fetch_lag']['median'])} p95 {_f(s['fetch_lag']['p95'])} s, events {s['events']}")  # fmt: skip
    for w in result["warnings"]:
        out.print(f"[yellow]warning: {w}[/yellow]")


def cmd_report(args: argparse.Namespace) -> int:
    result = analyse(os.path.abspath(args.out))
    print_report(result)
    if args.json:
        _write_json(args.json, result)
    return 0


# -- capacity ---------------------------------------------------------------------------------------


def keeps_up(source: dict, started: float) -> dict:
    """Lag of one source over the run's second half, from the HTTP log (see the docstring)."""
    fetch = fetch_stats(source)
    if not fetch["fetched"]:
        return {"kept_up": False, "why": "nothing fetched"}
    end = max(t for t, _ in fetch["lags"])
    middle = started + (end - started) / 2
    half = [(t, lag) for t, lag in fetch["lags"] if t >= middle] or fetch["lags"]
    lags = [lag for _, lag in half]
    slope = 0.0
    if len(half) >= 3:
        mx, my = statistics.fmean(t for t, _ in half), statistics.fmean(lags)
        var = sum((t - mx) ** 2 for t, _ in half)
        slope = sum((t - mx) * (lag - my) for t, lag in half) / var if var else 0.0
    p95 = pct(lags, 95)
    why = []
    if fetch["skipped_behind"]:
        why.append(f"{fetch['skipped_behind']} segments skipped while behind")
    if p95 > LAG_MAX:
        why.append(f"lag p95 {p95:.1f} s")
    if slope > LAG_SLOPE_MAX:
        why.append(f"lag grows {slope:.3f} s/s")
    return {"kept_up": not why, "why": ", ".join(why), "skipped": fetch["skipped"], "skipped_behind": fetch["skipped_behind"], "lag_p95": _r(p95),
            "lag_median": _r(pct(lags, 50)), "lag_slope": _r(slope, 4), "behind_at_end_s": fetch.get("behind_at_end_s")}  # fmt: skip


def cmd_capacity(args: argparse.Namespace) -> int:
    out = os.path.abspath(args.out)
    truth = load_truth(out)
    results = []
    for n in range(1, args.max + 1):
        folder = os.path.join(out, "capacity", str(n))
        info = run_streams(folder, truth, n, args.seconds, f"capacity: {n} stream(s) for {args.seconds:g} s")
        per = [keeps_up(s, s["t0"]) for s in info["sources"]]
        res = read_resources(os.path.join(folder, "resources.csv"))
        ok = all(p["kept_up"] for p in per) and info.get("watch_rc") in (0, None)
        results.append({"streams": n, "kept_up": ok, "sources": per, "cpu_mean_pct": res.get("cpu_mean_pct"),
                        "machine_busy_mean_pct": res.get("machine_busy_mean_pct"), "rss_max_mb": res.get("rss_max_mb"),
                        "watch_rc": info.get("watch_rc")})  # fmt: skip
        _write_json(os.path.join(out, "capacity", "capacity.json"), results)
        console.print(f"{n} stream(s): {'kept up' if ok else 'fell behind'}: "
                      + "; ".join(f"lag p95 {p.get('lag_p95')} s slope {p.get('lag_slope')} s/s skipped {p.get('skipped')} "
                                  f"({p.get('skipped_behind')} while behind)"
                                  + (f" ({p['why']})" if p.get("why") else "") for p in per)
                      + f"; watch CPU {res.get('cpu_mean_pct')}%, machine {res.get('machine_busy_mean_pct')}% busy")  # fmt: skip
        if not ok:
            break
    table = Table(title=f"concurrent {WIDTH}x{HEIGHT} streams, {args.seconds:g} s each")
    for name in ("streams", "kept up", "lag p95 (worst)", "lag slope (worst)", "skipped (while behind)", "watch CPU %",
                 "machine busy %", "RSS max MB"):  # fmt: skip
        table.add_column(name)
    for r in results:
        table.add_row(str(r["streams"]), "yes" if r["kept_up"] else "[red]no[/red]",
                      _f(max((p.get("lag_p95") or 0.0) for p in r["sources"])),
                      f"{max((p.get('lag_slope') or 0.0) for p in r['sources']):.3f}",
                      f"{sum(p.get('skipped') or 0 for p in r['sources'])} ({sum(p.get('skipped_behind') or 0 for p in r['sources'])})",
                      _f(r["cpu_mean_pct"]),
                      _f(r["machine_busy_mean_pct"]), _f(r["rss_max_mb"]))  # fmt: skip
    _out().print(table)
    kept = [r["streams"] for r in results if r["kept_up"]]
    _out().print(f"real time up to {max(kept) if kept else 0} stream(s) (results in {out}/capacity/capacity.json)")
    return 0


# -- main -------------------------------------------------------------------------------------------


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)  # fmt: skip


def _write_json(path: str, data) -> None:
    with open(path + ".partial", "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(path + ".partial", path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build the stream, its truth, and the library of its works")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--media", action="append", metavar="DIR",
                   help="a media folder (video/<origin>/..., MANIFEST.tsv, film/bbb.mp4); repeatable "
                   "(default: ../shared/media and ~/.cache/reeltrace-media)")  # fmt: skip
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--insertions", type=int, default=20)
    p.add_argument("--work-families", type=int, default=4, help="families of clips registered besides the film (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="build again over an existing OUT")
    p = sub.add_parser("run", help="publish the stream as live HLS in real time and watch it")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--streams", type=int, default=1, help="copies of the stream, watched by one process (default 1)")
    p.add_argument("--seconds", type=float, help="stop after this long (default: the stream's length; longer loops it)")
    p = sub.add_parser("report", help="match the events to the truth: latency, errors, false events, memory")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--json", metavar="FILE", help="also write the results here")
    p = sub.add_parser("capacity", help="how many concurrent real-time streams one watch keeps up with")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--max", type=int, default=6)
    p.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args(argv)
    try:
        return {"build": cmd_build, "run": cmd_run, "report": cmd_report, "capacity": cmd_capacity}[args.command](args)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
