"""Build a labelled copy-detection data set from a folder of real media.

    works/       files to register: the full film, real clips, "episodes" joined from clips
    queries/     edited excerpts, compilations, and negatives (never-registered footage)
    ground_truth.json

Ground truth is what the builder did: for every query, each reused piece as (work, query
start/end, work start/end). Deterministic for a seed: the same media and seed give the same
plan (the rendered bytes depend on the FFmpeg build).

Footage is grouped into *families* (one origin, the repository it was published in: e.g. 20
sign-language clips shot on one set) and a family is either registered or a distractor,
never split: two takes on one set look alike to any descriptor, whether one "copies" the
other is not a question this benchmark can answer, and one repository's demos often reuse
one piece of footage. Clips known to share footage across origins are one
family (``FAMILY_OVERRIDES``, ``ORIGIN_FAMILY``, ``SAME_FOOTAGE``, found by scanning every
clip against every other and looking at the frames). Clips cut from the registered film
(file names with "bunny"/"bbb", and those overrides) are left out: they are copies of a
work, not distractors.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from dataclasses import asdict, dataclass, field

from PIL import Image, ImageDraw, ImageFont

from ...media.container import MEDIA_SUFFIXES, MediaError, probe
from .edits import EDITS, FONT, LAYOUTS, Context, Edit
from ..trailer import truth_segments

# Clips that share footage across origins, found by registering the full film
# (~/.cache/reeltrace-media/film/bbb.mp4), scanning every clip, and looking at the frames:
# moviepy's example2.mp4 is a Big Buck Bunny shot (matched at film 5 s, score 0.998);
# example3.mp4 is a Sintel shot, the same film as the Sintel trailer of FFmpegC.
FAMILY_OVERRIDES = {
    "video/Zulko+moviepy/media/doc_medias/example2.mp4": "bbb",
    "video/Zulko+moviepy/media/doc_medias/example3.mp4": "sintel",
    "video/Mangomm+FFmpegC/sintel.mp4": "sintel",
}
# Origins that share footage: SadTalker's WDA_AlexandriaOcasioCortez_000.mp4 and
# video-retalking's face/3.mp4 are the same speech, same shot (matched at 0.73 over 5 s).
ORIGIN_FAMILY = {"OpenTalker+SadTalker": "OpenTalker", "OpenTalker+video-retalking": "OpenTalker"}
# Clips of different families that show the same footage, found by looking at the false
# chains that scored highest: Video-LLaVA's demo.mp4 is a screen recording of a UI playing
# VideoLLaMA2's sample_demo_1.mp4 (a picture-in-picture copy). They are one family.
SAME_FOOTAGE = {
    frozenset({"video/PKU-YuanGroup+Video-LLaVA/assets/demo.mp4",
               "video/DAMO-NLP-SG+VideoLLaMA2/videollama2/serve/examples/sample_demo_1.mp4"}),
}


def family_of(folder: str, path: str) -> str:
    """The family of a clip: its origin (the repository it was published in), unless known
    to share footage with another origin. One repository's demo folders often hold the same
    footage twice (Grounded-SAM-2's bedroom.mp4 and its tracking demo drawn over it)."""
    rel = os.path.relpath(path, folder)
    if rel in FAMILY_OVERRIDES:
        return FAMILY_OVERRIDES[rel]
    for pair in SAME_FOOTAGE:
        if rel in pair:
            return "shared:" + min(pair)
    parts = rel.split(os.sep)
    origin = parts[1] if len(parts) > 2 else os.path.dirname(rel)
    return ORIGIN_FAMILY.get(origin, origin)


BUILDER_VERSION = 7  # bump when a change here changes what a seed builds

TUNE, REPORT = "tune", "report"


def half_of(family: str) -> str:
    """The half a family (an origin) belongs to: ``tune``, whose queries any choice of a
    parameter may look at, or ``report``, which is only reported. Fixed by the family's
    name alone (a hash), so it does not change with the seed, the plan or the media present."""
    return TUNE if int(hashlib.sha1(family.encode()).hexdigest(), 16) % 2 == 0 else REPORT

VIDEO_SUFFIXES = {s for s in MEDIA_SUFFIXES if s not in {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma"}}
AUDIO_SUFFIXES = MEDIA_SUFFIXES - VIDEO_SUFFIXES


@dataclass
class Source:
    path: str
    duration: float
    family: str
    has_audio: bool


@dataclass
class Truth:
    work: str
    query_start: float
    query_end: float
    work_start: float
    work_end: float


@dataclass
class WorkEntry:
    id: str
    path: str
    title: str
    category: str
    duration: float
    half: str = TUNE
    parts: list[str] = field(default_factory=list)
    """An episode's source clips, in order: a query of a clip that shares footage with one
    of them (``SAME_FOOTAGE``) truly reuses the episode too (``run.sharing_pairs``)."""


@dataclass
class QueryEntry:
    id: str
    path: str
    kind: str  # "single", "combo", "compilation", "negative", "trailer"
    edits: list[str]
    segments: list[Truth] = field(default_factory=list)
    duration: float = 0.0
    half: str = TUNE


@dataclass(frozen=True)
class Plan:
    """How many of each kind of query to make."""

    clips_per_family: int
    work_families: int
    distractor_families: int
    episodes: int
    per_edit: int
    combos: int
    compilations: int
    negatives_per_edit: int
    layout_combos: int

    @classmethod
    def quick(cls) -> Plan:
        return cls(clips_per_family=2, work_families=8, distractor_families=6, episodes=2, per_edit=2,
                   combos=8, compilations=3, negatives_per_edit=1, layout_combos=1)  # fmt: skip

    @classmethod
    def full(cls) -> Plan:
        return cls(clips_per_family=4, work_families=14, distractor_families=10, episodes=4, per_edit=8,
                   combos=40, compilations=12, negatives_per_edit=3, layout_combos=3)  # fmt: skip


def choose_families(names: list[str], plan: Plan, rng: random.Random) -> tuple[list[str], list[str]]:
    """Registered and distractor families, half of each from each half (``half_of``) where
    the media allow, in the order ``rng`` shuffles ``names`` (sorted)."""
    names = list(names)
    rng.shuffle(names)
    halves = {h: [f for f in names if half_of(f) == h] for h in (TUNE, REPORT)}
    works: list[str] = []
    distractors: list[str] = []
    for want, into in ((plan.work_families, works), (plan.distractor_families, distractors)):
        for k in range(want):
            first = halves[(TUNE, REPORT)[k % 2]] or halves[(REPORT, TUNE)[k % 2]]
            if first:
                into.append(first.pop(0))
    return works, distractors


def discover(folders: list[str]) -> tuple[list[Source], list[str], list[str], dict]:
    """Video sources, music files, speech files, and the film (if found) in ``folders``."""
    videos, music, speech = [], [], []
    film: dict = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                suffix = os.path.splitext(name)[1].lower()
                lower = path.lower()
                if name == "bbb.mp4":
                    film["film"] = path
                    continue
                if name == "trailer_bbb.mp4":
                    film["trailer"] = path
                    continue
                if name == "trailer.py":
                    film["script"] = path
                    continue
                if suffix in AUDIO_SUFFIXES:
                    (speech if any(k in lower for k in ("speech", "ljspeech", "jfk", "whisper", "librispeech", "tts")) else music).append(path)
                    continue
                family = family_of(folder, path)
                if suffix not in VIDEO_SUFFIXES or "bunny" in lower or "bbb" in lower or family == "bbb":
                    continue
                try:
                    info = probe(path)
                except MediaError:
                    continue
                if not info.has_video or info.duration < 3.0 or not decodes_cleanly(path):
                    continue
                videos.append(Source(path, info.duration, family, info.has_audio))
    return videos, _readable(music), _readable(speech), film


def _readable(paths: list[str]) -> list[str]:
    """``paths`` with each file FFmpeg cannot open replaced by the next one it can (real
    collections hold broken files: one soundtrack's .ogg fails its header). The pool keeps
    its length, so a seed draws the same sounds whichever files are broken."""
    good = []
    for path in paths:
        try:
            good.append(probe(path).has_audio)
        except MediaError:
            good.append(False)
    if not any(good):
        return []
    return [paths[next(j % len(paths) for j in range(i, i + len(paths)) if good[j % len(paths)])] for i in range(len(paths))]


def decodes_cleanly(path: str) -> bool:
    """False for sources whose picture FFmpeg can only conceal (broken streams give green
    and grey garbage, which is nobody's work)."""
    result = subprocess.run(["ffmpeg", "-hide_banner", "-v", "error", "-i", path, "-map", "0:v:0", "-f", "null", "-"],
                            capture_output=True, text=True)  # fmt: skip
    return result.returncode == 0 and not result.stderr.strip()


def ffmpeg(args: list[str]) -> None:
    result = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(args)}\n{result.stderr[-2000:]}")


def duration_of(path: str) -> float:
    return probe(path).duration


BACKDROP_SECONDS = 120.0


def make_backdrop(path: str, seed: int, seconds: float = BACKDROP_SECONDS) -> str:
    """A generated moving picture (Conway's life, coloured and blurred) for edits that lay the
    work over other footage when no unregistered footage was given: a bench on the film
    alone still builds its picture-in-picture, duet and grid queries. It is never
    registered, and no real footage looks like it, so it adds no look-alike."""
    if not os.path.exists(path):
        ffmpeg(["-f", "lavfi", "-i", f"life=s=160x90:r=25:mold=20:ratio=0.3:seed={seed}:life_color=#e0a040:"
                "death_color=#203050:mold_color=#508070", "-t", f"{seconds:.3f}",
                "-vf", "scale=640:360:flags=bicubic,gblur=sigma=1.5,format=yuv420p",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", _partial(path)])  # fmt: skip
        os.replace(_partial(path), path)
    return path


def make_logo(path: str, rng: random.Random) -> str:
    image = Image.new("RGBA", (400, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    colour = tuple(rng.randint(60, 255) for _ in range(3)) + (220,)
    draw.rounded_rectangle((4, 4, 396, 156), radius=30, fill=colour)
    draw.text((30, 40), rng.choice(["TV+", "HOT", "CLIPS", "4K"]), font=ImageFont.truetype(FONT, 72), fill=(255, 255, 255, 255))
    image.save(path)
    return path


def _graph(edits: list[Edit], first_extra: int, first_label: str = "[0:v]") -> tuple[str, list[str], float, str | None, str | None]:
    """filter_complex for the picture, extra inputs, total speed, audio kind, bitrate."""
    parts, extras = [], []
    label, speed, audio, bitrate = first_label, 1.0, None, None
    for k, edit in enumerate(edits):
        out = f"[e{k}]"
        template = edit.video if "{i}" in edit.video else "{i}" + edit.video + "{o}"
        pip = ""
        if edit.extra_video:
            pip = f"[{first_extra + len(extras)}:v]"
            extras.append(edit.extra_video)
        parts.append(template.format(i=label, o=out, p=pip, n=f"e{k}_"))
        label = out
        speed *= edit.speed
        audio = edit.audio or audio
        bitrate = edit.bitrate or bitrate
    parts.append(f"{label}scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p[vout]")
    return ";".join(parts), extras, speed, audio, bitrate


LONG_SOURCE = 120.0  # seconds; longer sources are seeked into (the film is well formed)


def render(src: str, start: float, length: float, edits: list[Edit], out: str, has_audio: bool,
           ctx: Context, size: tuple[int, int] | None = None, with_audio: bool = True, reuse: bool = False) -> float:  # fmt: skip
    """Cut [start, start+length] of ``src``, apply ``edits``, write ``out``. Returns the speed.

    ``out`` appears only once it is whole and checked (written beside it, then renamed), so
    with ``reuse`` an existing ``out`` is kept: a build that was interrupted resumes.

    The cut is made inside the filter graph (``trim``/``atrim``): an ``-ss``/``-t`` placed
    after ``-i src`` binds to the *next* input (a logo, the picture-in-picture background, the
    new sound), which once left whole, uncut files labelled as excerpts. Short sources are
    decoded from their start: some real files flag no usable keyframes, and seeking into
    them renders green garbage; long ones (the film) are seeked into first.
    """
    if duration_of(src) <= LONG_SOURCE:
        args, offset = ["-i", src], start
    else:
        args, offset = ["-ss", f"{start:.3f}", "-i", src], 0.0
    span = f"start={offset:.3f}:duration={length:.3f}"
    graph, extras, speed, audio_kind, bitrate = _graph(edits, first_extra=1, first_label="[cut]")
    if reuse and os.path.exists(out):
        return speed
    graph = f"[0:v]trim={span},setpts=PTS-STARTPTS[cut];" + graph
    if size is not None:
        graph = graph.replace("format=yuv420p[vout]", f"scale={size[0]}:{size[1]},setsar=1,fps=25,format=yuv420p[vout]")
    for extra in extras:
        args += (["-loop", "1"] if extra.endswith(".png") else ["-stream_loop", "-1"]) + ["-i", extra]
    audio_map: list[str] = []
    if with_audio and audio_kind:
        sound = ctx.music if audio_kind == "music" else ctx.speech
        if sound:
            args += ["-stream_loop", "-1", "-i", sound]
            audio_map = ["-map", f"{1 + len(extras)}:a", "-shortest"]
    elif with_audio and has_audio:
        tempo = f",atempo={speed}" if speed != 1.0 else ""
        graph += f";[0:a]atrim={span},asetpts=PTS-STARTPTS{tempo}[aout]"
        audio_map = ["-map", "[aout]"]
    args += ["-filter_complex", graph, "-map", "[vout]", *audio_map]
    args += ["-c:v", "libx264", "-preset", "veryfast"]
    args += ["-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate] if bitrate else ["-crf", "23"]
    args += ["-c:a", "aac", "-b:a", "96k"] if audio_map else ["-an"]
    partial = _partial(out)
    ffmpeg(args + [partial])
    check_render(partial, length / speed)
    os.replace(partial, out)
    return speed


def _partial(path: str) -> str:
    """Where ``path`` is written before it is whole (FFmpeg picks the format by the suffix)."""
    stem, suffix = os.path.splitext(path)
    return f"{stem}.partial{suffix}"


def check_render(path: str, expected: float) -> None:
    """Refuse a rendered query longer than planned, or whose picture and sound disagree in
    length: its ground truth would be wrong, and every metric computed with it."""
    result = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "csv=p=0",
                             path], capture_output=True, text=True, check=True)  # fmt: skip
    lengths = {}
    for line in result.stdout.split():
        kind, _, seconds = line.partition(",")
        if seconds not in ("", "N/A"):
            lengths[kind] = float(seconds)
    tolerance = max(0.5, 0.05 * expected)
    too_long = {k: v for k, v in lengths.items() if v > expected + tolerance}
    if too_long or ("audio" in lengths and "video" in lengths and abs(lengths["audio"] - lengths["video"]) > tolerance):
        raise RuntimeError(f"{path}: streams last {lengths}, planned {expected:.2f} s")


class Builder:
    def __init__(self, folders: list[str], out: str, seed: int, plan: Plan, resume: bool = False):
        self.folders, self.out, self.seed, self.plan = folders, out, seed, plan
        self.resume = resume  # keep the whole files of an interrupted build of the same seed and plan
        self.rng = random.Random(seed)
        os.makedirs(os.path.join(out, "works"), exist_ok=True)
        os.makedirs(os.path.join(out, "queries"), exist_ok=True)
        self.works: list[WorkEntry] = []
        self.queries: list[QueryEntry] = []
        self.distractors: list[Source] = []

    def _excerpt(self, duration: float, lo: float = 3.0, hi: float = 60.0) -> tuple[float, float]:
        length = min(self.rng.uniform(lo, hi), duration - 0.5)
        length = max(min(lo, duration - 0.2), length)
        start = self.rng.uniform(0, max(duration - length - 0.2, 0.0))
        return start, length

    def _edits(self, names: list[str], ctx: Context) -> list[Edit]:
        return [EDITS[n](self.rng, ctx) for n in names]

    def build(self) -> dict:
        videos, music, speech, film = discover(self.folders)
        families: dict[str, list[Source]] = {}
        for v in videos:
            families.setdefault(v.family, []).append(v)
        work_fams, distractor_fams = choose_families(sorted(families), self.plan, self.rng)
        pick = lambda fams: [s for f in fams for s in sorted(families[f], key=lambda s: s.path)[: self.plan.clips_per_family]]  # noqa: E731
        work_clips, distractors = pick(work_fams), pick(distractor_fams)
        self.distractors = distractors
        self.rng.shuffle(work_clips)

        if "film" in film:
            self.works.append(WorkEntry("film", film["film"], "Big Buck Bunny", "animation", duration_of(film["film"]),
                                        half_of("bbb")))  # fmt: skip
        # An episode joins clips of one half, so that no query of one half shows the other's footage.
        by_half = {h: [c for c in work_clips if half_of(c.family) == h] for h in (TUNE, REPORT)}
        episode_parts: list[list[Source]] = []
        for e in range(self.plan.episodes):
            pool = by_half[(TUNE, REPORT)[e % 2]]
            if len(pool) >= 3 + 1:
                episode_parts.append(pool[:3])
                del pool[:3]
        singles = [c for c in work_clips if not any(c in parts for parts in episode_parts)]
        for i, clip in enumerate(singles):
            self.works.append(WorkEntry(f"clip{i:02d}", clip.path, os.path.basename(clip.path), "short", clip.duration,
                                        half_of(clip.family)))  # fmt: skip
        for e, parts in enumerate(episode_parts):
            self.works.append(self._episode(f"episode{e}", parts))

        logo = make_logo(os.path.join(self.out, "logo.png"), self.rng)
        base_ctx = dict(music=music[0] if music else None, speech=speech[0] if speech else None, logo=logo)

        if not distractors:
            print("bench: no unregistered footage among the media: edits over other footage use a generated "
                  "backdrop, and there are no negative queries (add folders of other clips with --media)",
                  file=sys.stderr)  # fmt: skip

        def ctx() -> Context:
            other = self.rng.choice(distractors).path if distractors else self._backdrop()
            return Context(other_video=other, music=self.rng.choice(music) if music else None,
                           speech=self.rng.choice(speech) if speech else None, logo=base_ctx["logo"])  # fmt: skip

        n = 0
        for name in EDITS:
            for _ in range(self.plan.per_edit):
                self._single(f"q{n:04d}", [name], ctx())
                n += 1
            for _ in range(self.plan.negatives_per_edit):
                if distractors:
                    self._negative(f"q{n:04d}", [name], ctx(), distractors)
                    n += 1
        for _ in range(self.plan.combos):
            names_ = self.rng.sample([e for e in EDITS if e != "none" and e not in LAYOUTS], self.rng.choice([2, 3]))
            self._single(f"q{n:04d}", names_, ctx(), kind="combo")
            n += 1
        for layout in LAYOUTS:  # each layout with a speed change and mirrored, and negatives of both
            for first in ("speed", "mirror"):
                for _ in range(self.plan.layout_combos):
                    self._single(f"q{n:04d}", [first, layout], ctx(), kind="layout_combo")
                    n += 1
                if distractors:
                    self._negative(f"q{n:04d}", [first, layout], ctx(), distractors)
                    n += 1
        for _ in range(self.plan.compilations):
            self._compilation(f"q{n:04d}", ctx(), distractors)
            n += 1
        if {"film", "trailer", "script"} <= film.keys():
            segs = [Truth("film", q0, q1, w0, w1) for _, q0, q1, w0, w1 in truth_segments(film["script"])]
            self.queries.append(QueryEntry("trailer", film["trailer"], "trailer", ["trailer"], segs, duration_of(film["trailer"]),
                                           half_of("bbb")))  # fmt: skip

        truth = {
            "builder_version": BUILDER_VERSION,
            "seed": self.seed,
            "plan": asdict(self.plan),
            "works": [asdict(w) for w in self.works],
            "queries": [asdict(q) for q in self.queries],
        }
        with open(os.path.join(self.out, "ground_truth.json"), "w", encoding="utf-8") as fh:
            json.dump(truth, fh, indent=1)
        return truth

    def _episode(self, work_id: str, parts: list[Source]) -> WorkEntry:
        """Join clips into one longer work (an 'episode'), each part re-rendered to 640x360."""
        path = os.path.join(self.out, "works", f"{work_id}.mp4")
        sources = [part.path for part in parts]
        if self.resume and os.path.exists(path):
            return WorkEntry(work_id, path, f"Episode {work_id[-1]}", "drama", duration_of(path), half_of(parts[0].family), sources)
        pieces = []
        for i, part in enumerate(parts):
            piece = os.path.join(self.out, "works", f"{work_id}-part{i}.mp4")
            render(part.path, 0.0, part.duration, [], piece, False, Context(), size=(640, 360), with_audio=False)
            pieces.append(piece)
        self._concat(pieces, _partial(path))
        os.replace(_partial(path), path)
        for piece in pieces:
            os.unlink(piece)
        return WorkEntry(work_id, path, f"Episode {work_id[-1]}", "drama", duration_of(path), half_of(parts[0].family), sources)

    def _concat(self, pieces: list[str], out: str) -> None:
        listing = out + ".txt"
        with open(listing, "w", encoding="utf-8") as fh:
            for p in pieces:
                fh.write(f"file '{os.path.abspath(p)}'\n")
        ffmpeg(["-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", out])
        os.unlink(listing)

    def _backdrop(self) -> str:
        """The data set's generated backdrop (``make_backdrop``), made on first use."""
        return make_backdrop(os.path.join(self.out, "backdrop.mp4"), self.seed)

    def _pick_work(self) -> WorkEntry:
        return self.rng.choice(self.works)

    def _same_half(self, ctx: Context, half: str, avoid: str | None = None) -> Context:
        """``ctx`` with its other video (picture-in-picture backgrounds, grid cells) drawn
        from ``half``'s distractors: a query of one half shows no footage of the other."""
        pool = [d.path for d in self.distractors if half_of(d.family) == half and d.path != avoid]
        if ctx.other_video is not None and pool and ctx.other_video not in pool:
            ctx.other_video = self.rng.choice(pool)
        return ctx

    def _single(self, qid: str, names: list[str], ctx: Context, kind: str = "single") -> None:
        work = self._pick_work()
        ctx = self._same_half(ctx, work.half)
        start, length = self._excerpt(work.duration)
        out = os.path.join(self.out, "queries", f"{qid}.mp4")
        speed = render(work.path, start, length, self._edits(names, ctx), out, probe(work.path).has_audio, ctx, reuse=self.resume)
        qdur = duration_of(out)
        truth = Truth(work.id, 0.0, min(qdur, length / speed), start, start + min(length, qdur * speed))
        self.queries.append(QueryEntry(qid, out, kind, names, [truth], qdur, work.half))

    def _negative(self, qid: str, names: list[str], ctx: Context, distractors: list[Source]) -> None:
        src = self.rng.choice(distractors)
        start, length = self._excerpt(src.duration)
        out = os.path.join(self.out, "queries", f"{qid}.mp4")
        if ctx.other_video == src.path:
            others = [d.path for d in distractors if d.path != src.path]
            ctx.other_video = others[0] if others else self._backdrop()
        ctx = self._same_half(ctx, half_of(src.family), avoid=src.path)
        render(src.path, start, length, self._edits(names, ctx), out, src.has_audio, ctx, reuse=self.resume)
        self.queries.append(QueryEntry(qid, out, "negative", names, [], duration_of(out), half_of(src.family)))

    def _compilation(self, qid: str, ctx: Context, distractors: list[Source]) -> None:
        """3-10 clips from 1-4 works, interleaved with distractor clips, new sound over all."""
        half = self.rng.choice([TUNE, REPORT])
        mine = [w for w in self.works if w.half == half] or self.works
        works = self.rng.sample(mine, min(len(mine), self.rng.randint(1, 4)))
        distractors = [d for d in distractors if half_of(d.family) == half] or distractors
        pieces, plan = [], []
        for k in range(self.rng.randint(3, 10)):
            if distractors and self.rng.random() < 0.35:
                src = self.rng.choice(distractors)
                start, length = self._excerpt(src.duration, 2.0, 6.0)
                plan.append((None, src.path, start, length, []))
            else:
                work = self.rng.choice(works)
                start, length = self._excerpt(work.duration, 3.0, 12.0)
                edit = self.rng.choice(["none", "crop", "mirror", "text", "colour", "borders", "speed"])
                plan.append((work.id, work.path, start, length, [edit]))
        offset = 0.0
        truths = []
        for k, (work_id, path, start, length, names) in enumerate(plan):
            piece = os.path.join(self.out, "queries", f"{qid}-part{k}.mp4")
            speed = render(path, start, length, self._edits(names, ctx), piece, False, ctx, size=(640, 360), with_audio=False)
            dur = duration_of(piece)
            if work_id is not None:
                truths.append(Truth(work_id, offset, offset + dur, start, start + min(length, dur * speed)))
            pieces.append(piece)
            offset += dur
        silent = os.path.join(self.out, "queries", f"{qid}-silent.mp4")
        self._concat(pieces, silent)
        out = os.path.join(self.out, "queries", f"{qid}.mp4")
        sound = ctx.music or ctx.speech
        if sound:
            ffmpeg(["-i", silent, "-stream_loop", "-1", "-i", sound, "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                    "-c:a", "aac", "-b:a", "96k", "-shortest", out])  # fmt: skip
            os.unlink(silent)
        else:
            os.replace(silent, out)
        for piece in pieces:
            os.unlink(piece)
        self.queries.append(QueryEntry(qid, out, "compilation", ["compilation"], truths, duration_of(out), half))


def build_dataset(folders: list[str], out: str, seed: int = 0, quick: bool = False, resume: bool = False) -> dict:
    """Build the data set into ``out`` (see the module docstring); returns the ground truth.
    With ``resume``, the queries and episodes an interrupted build of the same builder
    version, seed and plan finished are kept (``build_stamp``)."""
    plan = Plan.quick() if quick else Plan.full()
    return Builder(folders, out, seed, plan, resume).build()


def build_stamp(seed: int, plan: Plan) -> dict:
    """What a build is of: written when it starts (``STAMP``), compared when one resumes."""
    return {"builder_version": BUILDER_VERSION, "seed": seed, "plan": asdict(plan)}


STAMP = "building.json"
