"""The audio benchmark's data set: real music and speech, its deterministic split, the
edits and the query excerpts rendered under them (ffmpeg)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache

import av
import numpy as np

SPEECH_MARKERS = ("ljspeech", "faster-whisper", "woodward", "198-209", "3436-172162", "5703-47212")
SKIP_MARKERS = ("pqmf_output", "bird-whistling", "solo-trumpet", "hotwords", "stereo_diarization")
LENGTHS = (3.0, 5.0, 10.0)
QUERIES_VERSION = 1  # bump when make_query renders differently: rendered queries are reused by recipe
SAME_RECORDING = {"drascula-music/track30": "drascula-music/track1"}
"""Files that hold the same recording (found by this benchmark: drascula track1 and track30
agree at the same times over 100 s): one is kept, so a recording is never both a work and
a negative."""


@dataclass
class Item:
    path: str
    group: str  # package or origin
    kind: str  # "music" | "speech"
    duration: float
    rate: int
    registered: bool = False
    # What the seeded coins (split, choices) are tossed on where the path is not stable: the
    # LJSpeech works are made inside the run's output folder, so their path moved them
    # between halves from one --out to the next. Files of the media folders keep their path
    # (an empty origin), so every music split stays the one the calibrations were made on.
    origin: str = ""

    @property
    def coin(self) -> str:
        """The text the item's seeded coins are tossed on (``seeded_fraction``)."""
        return self.origin or self.path


@dataclass(frozen=True)
class Edit:
    name: str
    chain: tuple[str, ...] = ()  # ffmpeg filters on the work, in order
    speed: float = 1.0  # work seconds per query second
    mix: tuple = ()  # ("noise", colour, snr_db) | ("overlay", "speech"|"music", db over the work)
    codec: tuple[str, ...] = ("-c:a", "pcm_s16le")
    ext: str = "wav"
    post: tuple[str, ...] = ()  # filters after the mix

    @property
    def overlay_kind(self) -> str | None:
        """What an overlay edit lays over the work ("speech" or "music"); None for an edit
        that lays no recording over it (noise is generated, not drawn)."""
        return self.mix[1] if self.mix and self.mix[0] == "overlay" else None

    def with_codec(self, other: Edit, name: str) -> Edit:
        return dataclasses.replace(self, name=name, codec=other.codec, ext=other.ext, post=self.post + other.post)


def _speed(f: float) -> Edit:
    return Edit(f"speed {f:g}x", (f"asetrate={{rate}}*{f}", "aresample={rate}"), speed=f)


def _tempo(f: float) -> Edit:
    return Edit(f"tempo {f:g}x", (f"atempo={f}",), speed=f)


MP3 = Edit("mp3 32k", codec=("-c:a", "libmp3lame", "-b:a", "32k"), ext="mp3")
AAC = Edit("aac 24k", codec=("-c:a", "aac", "-b:a", "24k"), ext="m4a")
OPUS = Edit("opus 12k", codec=("-c:a", "libopus", "-b:a", "12k"), ext="opus")
BAND = Edit("band 300-3400", ("highpass=f=300", "lowpass=f=3400"))


def _noise(colour: str, snr: int) -> Edit:
    return Edit(f"{colour} noise {snr} dB", mix=("noise", colour, snr))


VOICE = Edit("voice-over +6 dB", mix=("overlay", "speech", 6))
BED = Edit("music bed +6 dB", mix=("overlay", "music", 6))

EDITS: tuple[Edit, ...] = (
    Edit("clean"),
    MP3,
    AAC,
    OPUS,
    Edit("resample 8 kHz", post=("aresample=8000",)),
    Edit("resample 16 kHz", post=("aresample=16000",)),
    Edit("resample 22.05 kHz", post=("aresample=22050",)),
    Edit("resample 48 kHz", post=("aresample=48000",)),
    Edit("stereo->mono", post=("pan=mono|c0=0.5*c0+0.5*c1",)),
    Edit("volume -20 dB", ("volume=-20dB",)),
    *[_noise(c, s) for c in ("white", "pink") for s in (0, 5, 10)],
    VOICE,
    BED,
    BAND,
    *[_speed(f) for f in (0.8, 0.9, 1.1, 1.25)],
    *[_tempo(f) for f in (0.9, 1.1)],
    # Combinations of two.
    _noise("white", 10).with_codec(MP3, "white noise 10 dB + mp3 32k"),
    dataclasses.replace(BAND, name="band 300-3400 + aac 24k", codec=AAC.codec, ext=AAC.ext),
    _speed(1.1).with_codec(OPUS, "speed 1.1x + opus 12k"),
    dataclasses.replace(_tempo(0.9), name="tempo 0.9x + pink noise 10 dB", mix=("noise", "pink", 10)),
    BED.with_codec(MP3, "music bed +6 dB + mp3 32k"),
    dataclasses.replace(_speed(0.9), name="speed 0.9x + band 300-3400", chain=_speed(0.9).chain + BAND.chain),
)


@dataclass(frozen=True)
class Plan:
    positives_music: int
    positives_speech: int
    negatives: int
    latency_clips: int
    register_hours: float  # cap on registered music (hours); 0 = all of the 60% split

    @classmethod
    def quick(cls) -> Plan:
        return cls(4, 2, 3, 4, 1.2)

    @classmethod
    def full(cls) -> Plan:
        return cls(24, 8, 14, 8, 0.0)


def seeded_fraction(seed: int, text: str) -> float:
    """A number in [0, 1) fixed by seed and text: the split's and every choice's coin."""
    return int(hashlib.sha1(f"{seed}:{text}".encode()).hexdigest()[:12], 16) / float(1 << 48)


def audio_info(path: str) -> tuple[float, int] | None:
    """(duration, sample rate) of a file's first audio stream; None without one."""
    try:
        with av.open(path) as c:
            if not c.streams.audio:
                return None
            s = c.streams.audio[0]
            d = float(c.duration / 1e6) if c.duration else float(s.duration * s.time_base)
            return d, int(s.codec_context.sample_rate)
    except Exception:
        return None


def collect(media: list[str], seed: int, cache: str | None = None) -> list[Item]:
    """Every usable track, one file per recording, with its deterministic split."""
    items: list[Item] = []
    seen: set[str] = set()
    lj: list[str] = []
    for root in media:
        for sub in ("music", "audio"):
            base = os.path.join(root, sub)
            if not os.path.isdir(base):
                continue
            for dirpath, dirs, files in os.walk(base):
                dirs.sort()
                for name in sorted(files):
                    path = os.path.join(dirpath, name)
                    low = path.lower()
                    if os.path.splitext(name)[1].lower() not in (".ogg", ".mp3", ".flac", ".wav", ".oga"):
                        continue
                    if any(m in low for m in SKIP_MARKERS):
                        continue
                    rel = os.path.relpath(path, base)
                    # One recording, many files: x.hq.ogg / x.ogg, x.flac / x.mp3 / x.wav, viper.*.
                    stem = os.path.splitext(name)[0].removesuffix(".hq")
                    key = "viper" if stem == "viper" else f"{os.path.dirname(rel) if sub == 'music' else ''}/{stem}"
                    key = SAME_RECORDING.get(key, key)
                    if key in seen:
                        continue
                    if "ljspeech" in low:
                        lj.append(path)
                        continue
                    info = audio_info(path)
                    if info is None or info[0] < 11.0:
                        continue
                    seen.add(key)
                    group = rel.split(os.sep)[0]
                    kind = "speech" if any(m in low for m in SPEECH_MARKERS) else "music"
                    items.append(Item(path, group, kind, info[0], info[1], seeded_fraction(seed, key) < 0.6))
    # LJSpeech utterances are 2-10 s each: two real-speech works of ~2 min, one read
    # passage each, made by concatenating them (first half registered, second negative).
    flac = sorted(p for p in lj if p.endswith(".flac"))
    if len(flac) >= 4 and cache:
        os.makedirs(cache, exist_ok=True)
        for h, part in enumerate((flac[: len(flac) // 2], flac[len(flac) // 2 :])):
            out = os.path.join(cache, f"ljspeech-{'ab'[h]}.flac")
            if not os.path.exists(out):
                lst = out + ".txt"
                with open(lst, "w", encoding="utf-8") as fh:
                    fh.writelines(f"file '{os.path.abspath(p)}'\n" for p in part)
                _ffmpeg(["-f", "concat", "-safe", "0", "-i", lst, "-c:a", "flac", out])
            d, r = audio_info(out)
            items.append(Item(out, "ljspeech", "speech", d, r, h == 0, origin=f"ljspeech-{'ab'[h]}"))
    return items


# -- query making (ffmpeg) -----------------------------------------------------------------


def _ffmpeg(args: list[str]) -> None:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")


def _rms(path: str, start: float, seconds: float) -> float:
    """RMS of a stretch, mono mix at 44.1 kHz, from ffmpeg's own decoder."""
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-ss", f"{start:.3f}", "-t", f"{seconds:.3f}", "-i", path,
           "-ac", "1", "-ar", "44100", "-f", "f32le", "-"]  # fmt: skip
    x = np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.float32)
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0


@cache
def _noise_rms(colour: str) -> float:
    """RMS of anoisesrc at amplitude 1 (mono, 44.1 kHz), measured once per colour (it is
    a property of ffmpeg's generator, the same for every query)."""
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
           f"anoisesrc=color={colour}:amplitude=1:seed=1:duration=20:sample_rate=44100", "-f", "f32le", "-"]  # fmt: skip
    x = np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.float32)
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def make_query(item: Item, start: float, seconds: float, edit: Edit, out: str, seed: int,
               overlay: tuple[Item, float] | None = None) -> None:  # fmt: skip
    """Write the excerpt [start, start + seconds] of ``item`` under ``edit`` to ``out``."""
    rate = item.rate
    chain = [f.format(rate=rate) for f in edit.chain] or ["anull"]
    chain = [f"asetrate={round(float(c[9:].split('*')[0]) * float(c[9:].split('*')[1]))}" if c.startswith("asetrate=") else c
             for c in chain]  # fmt: skip
    args = ["-ss", f"{start:.3f}", "-t", f"{seconds:.3f}", "-i", item.path]
    graph = [f"[0:a]aformat=channel_layouts=stereo,{','.join(chain)}[w]"]
    last = "w"
    if edit.mix:
        level = _rms(item.path, start, seconds)
        if edit.mix[0] == "noise":
            _, colour, snr = edit.mix
            amp = level / (10 ** (snr / 20) * _noise_rms(colour))
            graph.append(f"anoisesrc=color={colour}:amplitude={min(amp, 1.0):.6f}:seed={seed}:sample_rate={rate}[n]")
        else:
            src, ostart = overlay
            gain = 10 ** (edit.mix[2] / 20) * level / max(_rms(src.path, ostart, seconds + 1), 1e-6)
            args += ["-ss", f"{ostart:.3f}", "-t", f"{seconds / edit.speed + 1:.3f}", "-i", src.path]
            graph.append(f"[1:a]aformat=channel_layouts=stereo,aresample={rate},volume={gain:.6f}[n]")
        graph.append("[w][n]amix=inputs=2:normalize=0:duration=first[m]")
        last = "m"
    if edit.post:
        graph.append(f"[{last}]{','.join(edit.post)}[p]")
        last = "p"
    args += ["-filter_complex", ";".join(graph), "-map", f"[{last}]", *edit.codec, out]
    _ffmpeg(args)


# -- queries -----------------------------------------------------------------------------


@dataclass
class Query:
    path: str
    edit: str
    length: float
    kind: str
    truth: str | None  # work source path, None for negatives
    start: float = 0.0
    speed: float = 1.0
    split: str = "fit"  # calibration half
    result: dict = field(default_factory=dict)


def choose(items: list[Item], n: int, seed: int, tag: str) -> list[Item]:
    return sorted(items, key=lambda it: seeded_fraction(seed, tag + it.coin))[:n]


def calibration_half(item: Item, seed: int) -> str:
    """"fit" or "test": the half of the calibration a source's queries belong to."""
    return "fit" if seeded_fraction(seed, "cal" + item.coin) < 0.5 else "test"


def draw_overlay(edit: Edit, length: float, pool: list[Item], rng: np.random.Generator) -> tuple[Item, float] | None:
    """What an overlay edit lays over a ``length`` s query: an item of ``pool`` long enough
    to cover it, and where in it to start, drawn from ``rng`` (so a query set is fixed by
    its seed). None for an edit that lays nothing over the work, and where nothing in
    ``pool`` is long enough (media without such a recording: that query is left out)."""
    if edit.overlay_kind is None:
        return None
    long_enough = [o for o in pool if o.duration >= length / edit.speed + 2]
    if not long_enough:
        return None
    o = long_enough[int(rng.integers(len(long_enough)))]
    return o, float(rng.uniform(0, max(o.duration - length / edit.speed - 2, 0.1)))


def build_queries(items: list[Item], plan: Plan, out: str, seed: int, log=print) -> list[Query]:
    rng = np.random.default_rng(seed)
    reg = [i for i in items if i.registered]
    neg = [i for i in items if not i.registered]
    long_enough = lambda i: i.duration >= 30  # noqa: E731
    sources = (
        choose([i for i in reg if i.kind == "music" and long_enough(i)], plan.positives_music, seed, "pm")
        + choose([i for i in reg if i.kind == "speech"], plan.positives_speech, seed, "ps")
        + choose([i for i in neg if i.kind == "music" and long_enough(i)], plan.negatives - plan.negatives // 3, seed, "nm")
        + choose([i for i in neg if i.kind == "speech"], plan.negatives // 3, seed, "ns")
    )
    overlays = {k: [i for i in neg if i.kind == k] for k in ("speech", "music")}
    os.makedirs(out, exist_ok=True)
    # Rendering takes as long as scanning: files of an earlier run with the same recipe
    # (seed, sources, edits, lengths, overlay pools) are kept. The stamp is written back
    # only once every file exists, so a run cut short while rendering reuses nothing.
    recipe = repr((QUERIES_VERSION, seed, LENGTHS, EDITS, [(i.path, round(i.duration, 3)) for i in sources + neg]))
    stamp = os.path.join(out, "RECIPE")
    reuse = os.path.exists(stamp) and open(stamp, encoding="utf-8").read() == recipe
    if os.path.exists(stamp):
        os.remove(stamp)
    queries: list[Query] = []
    left_out: set[tuple[str, float]] = set()
    for si, src in enumerate(sources):
        for length in LENGTHS:
            for ei, edit in enumerate(EDITS):
                span = length
                latest = src.duration - span - 0.5
                if latest < 0.5:
                    continue
                start = float(rng.uniform(0.5, latest))
                # Never the source itself laid over it.
                pool = [o for o in overlays.get(edit.overlay_kind, []) if o.path != src.path]
                overlay = draw_overlay(edit, length, pool, rng)
                if edit.overlay_kind and overlay is None:
                    if (edit.name, length) not in left_out:
                        left_out.add((edit.name, length))
                        log(f"  {edit.name}: no unregistered {edit.overlay_kind} of {length / edit.speed + 2:g} s or more in the media "
                            f"to lay over a {length:g} s query; those are left out", file=sys.stderr)  # fmt: skip
                    continue
                path = os.path.join(out, f"q{si:03d}_{int(length)}s_{ei:02d}.{edit.ext}")
                if not (reuse and os.path.exists(path)):
                    make_query(src, start, span, edit, path, seed + si * 1000 + ei, overlay)
                half = calibration_half(src, seed)
                queries.append(Query(path, edit.name, length, src.kind, src.path if src.registered else None,
                                     start, edit.speed, half))  # fmt: skip
        log(f"  queries from {si + 1}/{len(sources)} sources", file=sys.stderr, flush=True)
    with open(stamp, "w", encoding="utf-8") as f:
        f.write(recipe)
    return queries


def segment_ok(seg, q: Query) -> bool:
    """Whether a segment of the right work maps the query to the right work times (the
    "segment" metric of ``bench.audio``)."""
    true_start = q.start + q.speed * seg.query_start
    true_end = q.start + q.speed * seg.query_end
    covered = seg.work_end - seg.work_start >= 0.5 * q.length
    return abs(seg.work_start - true_start) <= 0.5 and abs(seg.work_end - true_end) <= 0.5 and covered and seg.work_start >= q.start - 0.5 and seg.work_end <= q.start + q.length + 0.5


def select(media: list[str], out: str, seed: int, plan: Plan) -> tuple[list[Item], list[Item], list[Item]]:
    """(usable items, registered works, negative tracks) of a run: the split, capped in quick mode."""
    items = collect(media, seed, os.path.join(os.path.dirname(out.rstrip("/")) or ".", "audio-speech"))
    if plan.register_hours:
        # Quick: the split's registered music, in hash order, up to the cap; speech as is.
        keep, total = set(), 0.0
        for it in sorted([i for i in items if i.registered and i.kind == "music"], key=lambda i: seeded_fraction(seed, "q" + i.coin)):
            if total < plan.register_hours * 3600:
                keep.add(it.path)
                total += it.duration
        for it in items:
            if it.registered and it.kind == "music" and it.path not in keep:
                it.registered = False
                it.group = "unused"
    reg = [i for i in items if i.registered]
    neg = [i for i in items if not i.registered and i.group != "unused"]
    return [i for i in items if i.group != "unused"], reg, neg
