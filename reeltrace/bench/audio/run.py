"""``reeltrace bench --audio``: the audio fingerprint benchmark on real music and speech.

Works: real music (``~/.cache/reeltrace-media/music/<package>/*``, about 8 h) and real
speech and music from ``../shared/media/audio``. Tracks are split deterministically (a
hash of seed and path): about 60% are registered, the rest are never registered and serve
as negatives. Queries are 3, 5 and 10 s excerpts (work seconds) under each edit of
``EDITS``, made with the ffmpeg command (aresample, volume, anoisesrc + amix, amix,
highpass/lowpass, asetrate + aresample, atempo; libmp3lame, aac, libopus). Everything
runs through the ``Library`` API: ``register`` every work, ``scan`` every query.

Metrics per edit and length:

* top-1: the best-scoring match is the right work;
* segment: a segment of the right work maps the query to the right work times: its work
  start and end within 0.5 s of the true work times of its query start and end, and it
  covers at least half of the excerpt;
* FP: queries cut from never-registered audio with any match (any work, any score
  at or above the threshold); "wrong": positive queries whose best match is another work.

Plus ingest speed (register, x realtime, one process), index size per hour of audio, and
``scan`` time for 60 s clips against the whole library. The unthresholded audio segments
of every scan (``ScanTrace.audio``) are kept for recalibrating the score
(``fit_calibration``). ``--baseline chromaprint`` runs Chromaprint's ``fpcalc`` and
``--baseline audfprint`` Ellis' landmark fingerprinter (PyPI ``audfprint2``) on the queries
of a finished run, as clearly separate baselines (``run_chromaprint_baseline``,
``run_audfprint_baseline``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version

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


@dataclass(frozen=True)
class Edit:
    name: str
    chain: tuple[str, ...] = ()  # ffmpeg filters on the work, in order
    speed: float = 1.0  # work seconds per query second
    mix: tuple = ()  # ("noise", colour, snr_db) | ("overlay", "speech"|"music", db over the work)
    codec: tuple[str, ...] = ("-c:a", "pcm_s16le")
    ext: str = "wav"
    post: tuple[str, ...] = ()  # filters after the mix

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


def _u(seed: int, text: str) -> float:
    return int(hashlib.sha1(f"{seed}:{text}".encode()).hexdigest()[:12], 16) / float(1 << 48)


def _info(path: str) -> tuple[float, int] | None:
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
                    info = _info(path)
                    if info is None or info[0] < 11.0:
                        continue
                    seen.add(key)
                    group = rel.split(os.sep)[0]
                    kind = "speech" if any(m in low for m in SPEECH_MARKERS) else "music"
                    items.append(Item(path, group, kind, info[0], info[1], _u(seed, key) < 0.6))
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
            d, r = _info(out)
            items.append(Item(out, "ljspeech", "speech", d, r, h == 0))
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


_NOISE_RMS: dict[str, float] = {}


def _noise_rms(colour: str) -> float:
    """RMS of anoisesrc at amplitude 1 (mono, 44.1 kHz), measured once."""
    if colour not in _NOISE_RMS:
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
               f"anoisesrc=color={colour}:amplitude=1:seed=1:duration=20:sample_rate=44100", "-f", "f32le", "-"]  # fmt: skip
        x = np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.float32)
        _NOISE_RMS[colour] = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return _NOISE_RMS[colour]


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


# -- running -----------------------------------------------------------------------------


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


def _choose(items: list[Item], n: int, seed: int, tag: str) -> list[Item]:
    return sorted(items, key=lambda it: _u(seed, tag + it.path))[:n]


def build_queries(items: list[Item], plan: Plan, out: str, seed: int, log=print) -> list[Query]:
    rng = np.random.default_rng(seed)
    reg = [i for i in items if i.registered]
    neg = [i for i in items if not i.registered]
    long_enough = lambda i: i.duration >= 30  # noqa: E731
    sources = (
        _choose([i for i in reg if i.kind == "music" and long_enough(i)], plan.positives_music, seed, "pm")
        + _choose([i for i in reg if i.kind == "speech"], plan.positives_speech, seed, "ps")
        + _choose([i for i in neg if i.kind == "music" and long_enough(i)], plan.negatives - plan.negatives // 3, seed, "nm")
        + _choose([i for i in neg if i.kind == "speech"], plan.negatives // 3, seed, "ns")
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
    for si, src in enumerate(sources):
        for length in LENGTHS:
            for ei, edit in enumerate(EDITS):
                span = length
                latest = src.duration - span - 0.5
                if latest < 0.5:
                    continue
                start = float(rng.uniform(0.5, latest))
                overlay = None
                if edit.mix and edit.mix[0] == "overlay":
                    # Never the source itself; long enough to cover the query.
                    pool = [o for o in overlays[edit.mix[1]] if o.path != src.path and o.duration >= length / edit.speed + 2]
                    o = pool[int(rng.integers(len(pool)))]
                    overlay = (o, float(rng.uniform(0, max(o.duration - length / edit.speed - 2, 0.1))))
                path = os.path.join(out, f"q{si:03d}_{int(length)}s_{ei:02d}.{edit.ext}")
                if not (reuse and os.path.exists(path)):
                    make_query(src, start, span, edit, path, seed + si * 1000 + ei, overlay)
                half = "fit" if _u(seed, "cal" + src.path) < 0.5 else "test"
                queries.append(Query(path, edit.name, length, src.kind, src.path if src.registered else None,
                                     start, edit.speed, half))  # fmt: skip
        log(f"  queries from {si + 1}/{len(sources)} sources", file=sys.stderr, flush=True)
    with open(stamp, "w", encoding="utf-8") as f:
        f.write(recipe)
    return queries


def _segment_ok(seg, q: Query) -> bool:
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
        for it in sorted([i for i in items if i.registered and i.kind == "music"], key=lambda i: _u(seed, "q" + i.path)):
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


def run_audio_bench(media: list[str], out: str, seed: int = 0, quick: bool = False, log=print) -> dict:
    from ...library import Library

    plan = Plan.quick() if quick else Plan.full()
    items, reg, neg = select(media, out, seed, plan)
    # A fresh library and results; rendered queries stay for build_queries to reuse.
    if os.path.isdir(out):
        for name in os.listdir(out):
            if name != "queries":
                target = os.path.join(out, name)
                shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
    os.makedirs(out, exist_ok=True)
    lib_dir = os.path.join(out, "library")
    log(f"registering {len(reg)} works ({sum(i.duration for i in reg) / 3600:.2f} h); "
        f"negatives: {len(neg)} tracks ({sum(i.duration for i in neg) / 3600:.2f} h)", file=sys.stderr, flush=True)  # fmt: skip
    summary: dict = {"seed": seed, "quick": quick, "plan": dataclasses.asdict(plan)}
    with Library(lib_dir) as lib:
        t0 = time.perf_counter()
        keys: dict[str, int] = {}
        for n, it in enumerate(reg):
            r = lib.register(it.path, category="audio", work_id=f"a{n:04d}")
            if r.error:
                log(f"  register failed: {it.path}: {r.error}", file=sys.stderr)
                continue
            keys[it.path] = r.work.key
        ingest = time.perf_counter() - t0
        hours = sum(i.duration for i in reg if i.path in keys) / 3600
        index = lib.audio_index()
        size = len(index.to_bytes())
        summary.update(
            works=len(keys), registered_hours=round(hours, 3), negative_hours=round(sum(i.duration for i in neg) / 3600, 3),
            ingest_seconds=round(ingest, 1), ingest_x_realtime=round(hours * 3600 / ingest, 1),
            index_mb_per_hour=round(size / hours / 1e6, 3), index_hashes=len(index),
        )  # fmt: skip
        log(f"ingest {summary['ingest_x_realtime']}x realtime, index {summary['index_mb_per_hour']} MB/h; making queries",
            file=sys.stderr, flush=True)  # fmt: skip
        queries = build_queries(items, plan, os.path.join(out, "queries"), seed, log)
        path_of = {v: k for k, v in keys.items()}
        calib: list[dict] = []
        t1 = time.perf_counter()
        for n, q in enumerate(queries):
            res = lib.scan(q.path, trace=True)
            raw = res.trace.audio if res.trace is not None else {}
            best = res.matches[0] if res.matches else None
            right = [m for m in res.matches if path_of.get(m.work.key) == q.truth] if q.truth else []
            q.result = {
                "matched": [path_of.get(m.work.key) for m in res.matches],
                "top1": bool(best is not None and q.truth and path_of.get(best.work.key) == q.truth),
                "segment": bool(right and any(_segment_ok(s, q) for s in right[0].segments)),
                "fp": bool(q.truth is None and res.matches),
                "wrong": bool(q.truth and best is not None and path_of.get(best.work.key) != q.truth),
                "best_score": round(best.score, 4) if best else 0.0,
                "elapsed": round(res.elapsed, 4),
                "error": res.error,
            }
            calib += calibration_rows(q, raw, path_of)
            if (n + 1) % 200 == 0:
                log(f"  scanned {n + 1}/{len(queries)}", file=sys.stderr, flush=True)
        scan_time = time.perf_counter() - t1
        # Latency: 60 s clips (mp3 128k re-encodes) of registered and unregistered tracks.
        lat = []
        long_reg = _choose([i for i in reg if i.duration > 70 and i.path in keys], plan.latency_clips, seed, "lat")
        long_neg = _choose([i for i in neg if i.duration > 70], max(plan.latency_clips // 2, 1), seed, "latn")
        for n, it in enumerate(long_reg + long_neg):
            p = os.path.join(out, "queries", f"long{n:02d}.mp3")
            s0 = float(_u(seed, "ls" + it.path) * (it.duration - 65))
            make_query(it, s0, 60.0, Edit("mp3 128k", codec=("-c:a", "libmp3lame", "-b:a", "128k"), ext="mp3"), p, seed)
            res = lib.scan(p)
            lat.append({"registered": it.registered, "elapsed": round(res.elapsed, 3),
                        "found": bool(res.matches and path_of.get(res.matches[0].work.key) == it.path) if it.registered else None,
                        "fp": (not it.registered) and bool(res.matches)})  # fmt: skip
    el = [x["elapsed"] for x in lat]
    summary.update(
        queries=len(queries), scan_seconds=round(scan_time, 1),
        latency_60s_median=round(float(np.median(el)), 3) if el else None,
        latency_60s_max=round(float(np.max(el)), 3) if el else None, latency=lat,
    )  # fmt: skip
    rows = _table(queries)
    summary["table"] = rows
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as fh:
        json.dump({"summary": summary, "queries": [dataclasses.asdict(q) for q in queries]}, fh, indent=1)
    with open(os.path.join(out, "calibration.json"), "w", encoding="utf-8") as fh:
        json.dump(calib, fh)
    return summary


def calibration_rows(q: Query, raw: dict, path_of: dict[int, str]) -> list[dict]:
    """Every unthresholded audio segment of one scan (``ScanTrace.audio``: work key ->
    segments) as a labelled row for ``fit_calibration``: 1 where it places the query's
    excerpt in its own work, 0 for any other work or for a negative query. A segment of
    the right work elsewhere (a repeat in the music) gets no row."""
    rows = []
    for key, segs in raw.items():
        for s in segs:
            pos = q.truth is not None and path_of.get(key) == q.truth
            ok = pos and _segment_ok(s, q)
            if pos and not ok and s.work_start > q.start - 2 and s.work_end < q.start + q.length + 2:
                ok = True  # the right place, bounds loose: still a true match
            if pos and not ok:
                continue
            e = s.audio
            rows.append({"label": int(ok), "hits": e.hits, "distinct": e.distinct, "density": round(e.density, 4),
                         "verified": round(e.verified, 3), "split": q.split, "edit": q.edit, "length": q.length,
                         "query": os.path.basename(q.path), "work": os.path.basename(path_of.get(key, "")),
                         "score": round(s.score, 4)})  # fmt: skip
    return rows


def _table(queries: list[Query]) -> list[dict]:
    rows = []
    for edit in dict.fromkeys(q.edit for q in queries):
        row = {"edit": edit}
        for length in LENGTHS:
            pos = [q for q in queries if q.edit == edit and q.length == length and q.truth]
            negs = [q for q in queries if q.edit == edit and q.length == length and not q.truth]
            row[f"{length:g}s"] = {
                "n": len(pos),
                "top1": sum(q.result["top1"] for q in pos),
                "segment": sum(q.result["segment"] for q in pos),
                "wrong": sum(q.result["wrong"] for q in pos),
                "speech_n": sum(q.kind == "speech" for q in pos),
                "speech_top1": sum(q.result["top1"] for q in pos if q.kind == "speech"),
                "neg": len(negs),
                "fp": sum(q.result["fp"] for q in negs),
            }
        rows.append(row)
    return rows


def markdown(summary: dict) -> str:
    lines = [
        f"Works: {summary['works']} registered ({summary['registered_hours']} h), negatives "
        f"{summary['negative_hours']} h never registered; {summary['queries']} queries.",
        "",
        "| edit | 3 s top-1 / segment | 5 s top-1 / segment | 10 s top-1 / segment | speech top-1 (3/5/10 s) | FP (negative queries) |",
        "|---|---|---|---|---|---|",
    ]
    tot = {L: [0, 0, 0] for L in LENGTHS}
    fp = [0, 0]
    for row in summary["table"]:
        cells, sp, f = [], [], [0, 0]
        for L in LENGTHS:
            c = row[f"{L:g}s"]
            n = max(c["n"], 1)
            cells.append(f"{100 * c['top1'] / n:.0f}% / {100 * c['segment'] / n:.0f}% (n={c['n']})")
            sp.append(f"{c['speech_top1']}/{c['speech_n']}")
            f[0] += c["fp"]
            f[1] += c["neg"]
            tot[L][0] += c["top1"]
            tot[L][1] += c["segment"]
            tot[L][2] += c["n"]
        fp[0] += f[0]
        fp[1] += f[1]
        lines.append(f"| {row['edit']} | " + " | ".join(cells) + f" | {' '.join(sp)} | {f[0]}/{f[1]} |")
    lines.append(
        "| **all** | "
        + " | ".join(f"{100 * tot[L][0] / max(tot[L][2], 1):.1f}% / {100 * tot[L][1] / max(tot[L][2], 1):.1f}%" for L in LENGTHS)
        + f" | | {fp[0]}/{fp[1]} |"
    )
    lines += [
        "",
        f"Ingest (register, one process): {summary['ingest_x_realtime']}x realtime; index "
        f"{summary['index_mb_per_hour']} MB per hour of audio; scan of a 60 s clip against the library: "
        f"median {summary['latency_60s_median']} s, max {summary['latency_60s_max']} s.",
    ]
    return "\n".join(lines)


# -- overlay levels -------------------------------------------------------------------------
#
# The bench sets an overlay's level by RMS over the whole band. What the fingerprint hears
# is the band it reads (F_MIN..F_MAX, 94 Hz-3.9 kHz): a work whose energy sits in the bass
# under a bright music bed "+6 dB" can be 15 dB under it there. ``overlay_levels`` breaks
# the mixed edits' results down by that in-band level, and plays the overlay queries again
# with the same excerpt and the same overlay at lower levels: a controlled level curve.

LEVEL_BINS = (-np.inf, 0.0, 6.0, 12.0, np.inf)  # dB of overlay (or noise) over the work, in band
REMIX_DB = (0.0, 3.0, 6.0)  # overlay levels (over the work, RMS as the bench sets them) replayed; 6: the control


def aligned_excerpt(query: np.ndarray, work: np.ndarray, start: float, rate: int) -> np.ndarray | None:
    """The stretch of ``work`` that ``query`` (rendered from ``start``) holds, found within
    5 ms of ``start`` by cross-correlation (the render's seek lands near it); None where
    it runs off the work."""
    n, s0 = len(query), int(round(start * rate))
    shifts = [d for d in range(-rate // 200, rate // 200 + 1) if s0 + d >= 0 and s0 + d + n <= len(work)]
    if not shifts:
        return None
    d = max(shifts, key=lambda d: float(np.dot(work[s0 + d : s0 + d + n], query)))
    return work[s0 + d : s0 + d + n]


def in_band_level(overlay: np.ndarray, work: np.ndarray, rate: int) -> float:
    """dB of ``overlay`` over ``work`` (same length, sampled at ``rate``) in the
    fingerprint's band."""
    from ...audio.config import F_MAX, F_MIN, N_FFT, RATE

    freq = np.fft.rfftfreq(len(work), 1 / rate)
    band = (freq >= F_MIN * RATE / N_FFT) & (freq <= F_MAX * RATE / N_FFT)
    energy = lambda x: float(np.sum(np.abs(np.fft.rfft(x)[band]) ** 2)) + 1e-12  # noqa: E731
    return 10 * np.log10(energy(overlay) / energy(work))


def _write_wav(path: str, samples: np.ndarray, rate: int) -> None:
    import wave

    samples = samples / max(1.0, float(np.max(np.abs(samples))))  # a mix may exceed full scale
    pcm = np.rint(samples * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def overlay_levels(run_dir: str, remix_db: tuple[float, ...] = REMIX_DB) -> list[dict]:
    """Top-1 of a finished run's mixed edits (noise or overlay; native speed, lossless)
    per length: by in-band level bin (``bins``: ``[lo, hi, n, top1]``), and for overlays
    replayed at each of ``remix_db`` through the run's library (``remix``: ``{db: [n, top1]}``)."""
    import tempfile

    from ...media.sound import decode_audio
    from ...library import Library

    with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as f:
        queries = json.load(f)["queries"]
    edits = {e.name: e for e in EDITS}
    work: tuple[str, np.ndarray] = ("", np.zeros(0))  # the last source decoded: queries come source by source
    cells: dict[tuple[str, float], dict] = {}
    with Library(os.path.join(run_dir, "library")) as lib, tempfile.TemporaryDirectory() as tmp:
        key_of = {os.path.realpath(w.source_path): w.key for w in lib.works()}  # the library stores paths resolved
        remix = os.path.join(tmp, "remix.wav")
        for q in queries:
            edit = edits.get(q["edit"])
            if q["truth"] is None or edit is None or not edit.mix or edit.speed != 1.0 or edit.codec != Edit("").codec:
                continue
            # At the source's own rate, where the query was cut: the excerpt then lines up to
            # the sample (at 8 kHz a fraction of a sample off leaves the work in the difference).
            info = _info(q["truth"])
            if info is None:
                continue  # the source is gone since the run
            rate = info[1]
            if work[0] != q["truth"]:
                work = (q["truth"], decode_audio(q["truth"], rate)[0])
            query = decode_audio(q["path"], rate)[0]
            ref = aligned_excerpt(query, work[1], q["start"], rate)
            if ref is None:
                continue
            cell = cells.setdefault((q["edit"], q["length"]), {
                "bins": [[lo, hi, 0, 0] for lo, hi in zip(LEVEL_BINS, LEVEL_BINS[1:])], "remix": {db: [0, 0] for db in remix_db}})  # fmt: skip
            level = in_band_level(query - ref, ref, rate)
            b = next(b for b in cell["bins"] if b[0] < level <= b[1])
            b[2] += 1
            b[3] += bool(q["result"]["top1"])
            if edit.mix[0] != "overlay":
                continue
            truth_key = key_of.get(os.path.realpath(q["truth"]))
            for db in remix_db:
                _write_wav(remix, ref + (query - ref) * 10 ** ((db - edit.mix[2]) / 20), rate)
                res = lib.scan(remix)
                cell["remix"][db][0] += 1
                cell["remix"][db][1] += bool(res.matches and res.matches[0].work.key == truth_key)
    order = {e.name: i for i, e in enumerate(EDITS)}
    return [dict(edit=e, length=L, **c) for (e, L), c in sorted(cells.items(), key=lambda c: (order[c[0][0]], c[0][1]))]


def levels_markdown(rows: list[dict]) -> str:
    head = [f"<= {hi:g} dB" if lo == -np.inf else f"> {lo:+g} dB" if hi == np.inf else f"{lo:+g}..{hi:+g} dB"
            for lo, hi in zip(LEVEL_BINS, LEVEL_BINS[1:])]  # fmt: skip
    lines = ["| edit | length | " + " | ".join(head) + " |", "|---|---|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{top1}/{n}" if n else "-" for _, _, n, top1 in r["bins"]]
        lines.append(f"| {r['edit']} | {r['length']:g} s | " + " | ".join(cells) + " |")
    out = "Top-1 by the overlay's level over the work inside 94 Hz-3.9 kHz:\n\n" + "\n".join(lines)
    remixed = [r for r in rows if any(n for n, _ in r["remix"].values())]
    if remixed:
        dbs = sorted({db for r in remixed for db in r["remix"]})
        lines = ["| edit | length | " + " | ".join(f"{db:+g} dB" for db in dbs) + " | as rendered |",
                 "|---|---|" + "---|" * (len(dbs) + 1)]  # fmt: skip
        for r in remixed:
            n = sum(b[2] for b in r["bins"])
            lines.append(f"| {r['edit']} | {r['length']:g} s | " + " | ".join(
                f"{r['remix'][db][1]}/{r['remix'][db][0]}" for db in dbs) + f" | {sum(b[3] for b in r['bins'])}/{n} |")  # fmt: skip
        out += "\n\nThe same excerpts under the same overlay, replayed at lower levels (RMS over the work):\n\n" + "\n".join(lines)
    return out


# -- baseline: Chromaprint ------------------------------------------------------------------
#
# Chromaprint (the fingerprinter behind AcoustID), run as the Debian ``fpcalc`` command
# (package libchromaprint-tools). Its raw fingerprint is one 32-bit word per 1365/11025 s
# (0.124 s) of audio, each bit a sign of a filtered chroma feature. Two fingerprints are
# compared the standard way: slide the query's words along the work's and take the offset
# with the lowest bit error rate (differing bits / 32 per word, over the query's words).
# The best work is the one with the lowest rate; its offset gives the work time of the
# query's start. No speed model: a changed speed is one offset for the whole query.

CHROMAPRINT_ITEM = 1365 / 11025  # seconds per fingerprint word


def fpcalc(path: str) -> np.ndarray:
    """Raw Chromaprint fingerprint (uint32 words) of a whole file; empty when too short."""
    done = subprocess.run(["fpcalc", "-raw", "-length", "0", "-json", path], capture_output=True, text=True)
    if done.returncode != 0 and not done.stdout.strip():
        return np.zeros(0, np.uint32)
    return np.array(json.loads(done.stdout).get("fingerprint") or [], np.uint32)


def chromaprint_best(query: np.ndarray, works: dict[str, np.ndarray]) -> tuple[str | None, float, float]:
    """(best work, its bit error rate, work seconds of the query's start) over full overlaps."""
    best: tuple[str | None, float, float] = (None, 1.0, 0.0)
    n = len(query)
    if n == 0:
        return best
    for path, fp in works.items():
        if len(fp) < n:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(fp, n)
        errors = np.bitwise_count(windows ^ query[None, :]).sum(axis=1, dtype=np.int64)
        o = int(np.argmin(errors))
        ber = float(errors[o]) / (32 * n)
        if ber < best[1]:
            best = (path, ber, o * CHROMAPRINT_ITEM)
    return best


def run_chromaprint_baseline(run_dir: str, media: list[str], seed: int = 0, quick: bool = False,
                             margin: float = 0.01, log=print) -> dict:  # fmt: skip
    """The Chromaprint baseline on the queries of a finished ``run_audio_bench`` run.

    Threshold: like ours, set so that the negative queries give no match: ``margin`` below
    the lowest bit error rate any negative query of the same length reached (a 3-word
    fingerprint needs a far stricter rate than a 60-word one; one rate for all lengths
    would be set by the 3 s queries). Also reported: recall at BER 0.35, a commonly
    quoted Chromaprint match rule, with its false positives. ``fpcalc`` results are
    kept in ``baseline-chromaprint.json`` and reused when the queries are the same.
    """
    if shutil.which("fpcalc") is None:
        raise RuntimeError("the baseline needs fpcalc (Debian: apt-get install libchromaprint-tools)")
    plan = Plan.quick() if quick else Plan.full()
    _, reg, _ = select(media, run_dir, seed, plan)
    with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    t0 = time.perf_counter()
    works = {it.path: fpcalc(it.path) for it in reg}
    ingest = time.perf_counter() - t0
    hours = sum(it.duration for it in reg) / 3600
    queries = [Query(**q) for q in data["queries"]]
    found = []
    t1 = time.perf_counter()
    saved = os.path.join(run_dir, "baseline-chromaprint.json")
    if os.path.exists(saved):
        with open(saved, encoding="utf-8") as fh:
            old = json.load(fh)
        if len(old["found"]) == len(queries):
            found = [((w, b, s), m) for w, b, s, m in old["found"]]
    for n, q in enumerate(queries if not found else []):
        fp = fpcalc(q.path)
        found.append((chromaprint_best(fp, works), len(fp)))
        if (n + 1) % 200 == 0:
            log(f"  chromaprint: {n + 1}/{len(queries)}", file=sys.stderr, flush=True)
    scan = time.perf_counter() - t1
    neg_ber = {L: [b[1] for (b, _), q in zip(found, queries) if q.truth is None and q.length == L] for L in LENGTHS}
    threshold = {L: round(min(v) - margin, 4) if v else 0.35 for L, v in neg_ber.items()}

    def label(limit) -> list[Query]:
        # A whole-query comparison: the match spans the query file's own duration.
        picks = [(work, 1 - ber, start, start + q.length / q.speed, True) for q, ((work, ber, start), _) in zip(queries, found)]
        return _label_picks(queries, picks, lambda q, score: 1 - score <= (limit[q.length] if isinstance(limit, dict) else limit))

    summary = {
        "baseline": "chromaprint (fpcalc " + subprocess.run(["fpcalc", "-version"], capture_output=True, text=True).stdout.split()[2] + ")",
        "works": len(works), "registered_hours": round(hours, 3), "negative_hours": data["summary"]["negative_hours"],
        "queries": len(queries), "threshold_ber": {f"{L:g}s": t for L, t in threshold.items()},
        "lowest_negative_ber": {f"{L:g}s": round(min(v), 4) for L, v in neg_ber.items() if v},
        "ingest_x_realtime": round(hours * 3600 / ingest, 1),
        "index_mb_per_hour": round(sum(len(f) for f in works.values()) * 4 / hours / 1e6, 3),
        "scan_seconds": round(scan, 1), "words_per_query": {f"{L:g}s": float(np.median([m for (_, m), q in zip(found, queries) if q.length == L])) for L in LENGTHS},
        "table": _table(label(threshold)), "table_ber_0.35": _table(label(0.35)),
    }  # fmt: skip
    with open(saved, "w", encoding="utf-8") as fh:
        json.dump({"summary": summary, "found": [[b[0], b[1], b[2], m] for b, m in found]}, fh, indent=1)
    return summary


def _label_picks(queries: list[Query], picks: list[tuple], accept) -> list[Query]:
    """A baseline's queries labelled as ``run_audio_bench`` labels ours. ``picks[i]`` is the
    baseline's best answer to query i, ``(work path or None, score, work time of the
    query's start, work time of its end, covers half the query)``, the times as the
    answer's alignment places them; ``accept(query, score)`` says whether that answer is
    a match at the baseline's threshold."""
    out = []
    for q, (work, score, start, end, covered) in zip(queries, picks):
        hit = work is not None and accept(q, score)
        right = hit and work == q.truth
        seg = right and covered and abs(start - q.start) <= 0.5 and abs(end - (q.start + q.length)) <= 0.5
        r = dict(q.result, top1=bool(right), segment=bool(seg), fp=bool(q.truth is None and hit),
                 wrong=bool(q.truth and hit and not right), best_score=round(float(score), 4))  # fmt: skip
        out.append(dataclasses.replace(q, result=r))
    return out


AUDFPRINT_MIN_COUNT = 5  # audfprint's own default rule: 5 temporally consistent hashes are a match
_AUDFPRINT_MATCH = re.compile(r"Matched\s+([\d.]+) s starting at\s+([\d.]+) s in (.+?) to time\s+([\d.]+) s in (.+?) "
                              r"with\s+(\d+) of\s+\d+ common hashes")  # fmt: skip


def parse_audfprint_matches(text: str) -> dict[str, tuple[str, int, float, float]]:
    """audfprint's ``--find-time-range`` log -> {query path: (work path, aligned hashes,
    work time of the query's start, matched seconds)}; queries without a match are absent.

    A line reads "Matched 3.6 s starting at 0.8 s in Q to time 50.9 s in W with 12 of 39
    common hashes": query time 0.8 s plays work time 50.9 s, at speed 1.
    """
    best: dict[str, tuple[str, int, float, float]] = {}
    for line in text.splitlines():
        m = _AUDFPRINT_MATCH.search(line)
        if m:
            span, q_at, qpath, w_at, work, count = m.groups()
            best[qpath] = (work, int(count), float(w_at) - float(q_at), float(span))
    return best


def audfprint_picks(queries: list[Query], found: dict[str, tuple[str, int, float, float]]) -> list[tuple]:
    """``_label_picks`` answers from ``parse_audfprint_matches``. The matched range runs
    between aligned hashes, so an answer covers the query when it spans half the excerpt,
    as our segments must."""
    out = []
    for q in queries:
        work, count, start, span = found.get(q.path, (None, 0, 0.0, 0.0))
        out.append((work, count, start, start + q.length / q.speed, span >= 0.5 * q.length))
    return out


def audfprint_command() -> str | None:
    """The ``audfprint`` command of the ``audfprint2`` package (Ellis' audfprint on PyPI):
    beside this interpreter, else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "audfprint")
    return here if os.access(here, os.X_OK) else shutil.which("audfprint")


def run_audfprint_baseline(run_dir: str, media: list[str], seed: int = 0, quick: bool = False) -> dict:
    """Ellis' audfprint (the landmark fingerprinter reeltrace's audio follows; PyPI
    ``audfprint2``) on the queries of a finished ``run_audio_bench`` run, at its default
    analysis (11.025 kHz, 20 hashes per second, fan-out 3).

    Its database holds the same registered works; every query is matched with
    ``--min-count 2 --find-time-range``, so even weak answers are seen, and the threshold
    is set like ours and Chromaprint's: one above the most aligned hashes any negative
    query of the same length reached (the lowest count with no false positive). Speed
    changes are outside its model (it has no speed hypotheses) and count as misses.
    Its ``match`` analyses each query at four sub-frame shifts by default (our
    counterpart: two frame grids).
    """
    cmd = audfprint_command()
    if cmd is None:
        raise RuntimeError("the baseline needs audfprint (pip install audfprint2)")
    plan = Plan.quick() if quick else Plan.full()
    _, reg, _ = select(media, run_dir, seed, plan)
    with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    queries = [Query(**q) for q in data["queries"]]
    work_dir = os.path.join(run_dir, "baseline-audfprint")
    os.makedirs(work_dir, exist_ok=True)
    db = os.path.join(work_dir, "works.pklz")
    lists = {name: os.path.join(work_dir, f"{name}.txt") for name in ("works", "queries")}
    for name, paths in (("works", [it.path for it in reg]), ("queries", [q.path for q in queries])):
        with open(lists[name], "w", encoding="utf-8") as fh:
            fh.writelines(p + "\n" for p in paths)
    # Track times up to 2^16 frames of 23 ms (25 min): the default 14 bits alias after 6 min.
    common = [cmd, "--dbase", db, "--maxtimebits", "16", "--list", "--ncores", "1"]
    t0 = time.perf_counter()
    subprocess.run([*common, "new", lists["works"]], check=True, capture_output=True)
    ingest = time.perf_counter() - t0
    t1 = time.perf_counter()
    done = subprocess.run([*common, "--min-count", "2", "--max-matches", "1", "--find-time-range", "--verbose",
                           "match", lists["queries"]], check=True, capture_output=True, text=True)  # fmt: skip
    scan = time.perf_counter() - t1
    picks = audfprint_picks(queries, parse_audfprint_matches(done.stdout + done.stderr))
    neg = {L: [p[1] for p, q in zip(picks, queries) if q.truth is None and q.length == L] for L in LENGTHS}
    threshold = {L: max(v, default=1) + 1 for L, v in neg.items()}
    hours = sum(it.duration for it in reg) / 3600
    summary = {
        "baseline": f"audfprint (audfprint2 {version('audfprint2')}, default analysis)",
        "works": len(reg), "registered_hours": round(hours, 3), "negative_hours": data["summary"]["negative_hours"],
        "queries": len(queries), "threshold_hashes": {f"{L:g}s": t for L, t in threshold.items()},
        "ingest_x_realtime": round(hours * 3600 / ingest, 1), "index_mb_per_hour": round(os.path.getsize(db) / hours / 1e6, 3),
        "scan_seconds": round(scan, 1),
        "table": _table(_label_picks(queries, picks, lambda q, count: count >= threshold[q.length])),
        "table_min_count_5": _table(_label_picks(queries, picks, lambda q, count: count >= AUDFPRINT_MIN_COUNT)),
    }  # fmt: skip
    with open(os.path.join(run_dir, "baseline-audfprint.json"), "w", encoding="utf-8") as fh:
        json.dump({"summary": summary, "picks": picks}, fh, indent=1)
    return summary


def baseline_markdown(summary: dict, table: str = "table") -> str:
    s = dict(summary, table=summary[table], latency_60s_median=None, latency_60s_max=None)
    text = markdown(s)
    if "threshold_hashes" in summary:
        return text.rsplit("\n", 1)[0] + (
            f"\n{summary['baseline']}: threshold {summary['threshold_hashes']} aligned hashes (one above the most any "
            f"negative query reached); fingerprinting {summary['ingest_x_realtime']}x realtime; "
            f"{summary['index_mb_per_hour']} MB per hour; matching all queries {summary['scan_seconds']} s."
        )
    return text.rsplit("\n", 1)[0] + (
        f"\nChromaprint: threshold BER <= {summary['threshold_ber']} (lowest negative {summary['lowest_negative_ber']}); "
        f"fingerprinting {summary['ingest_x_realtime']}x realtime (fpcalc, decode included); "
        f"{summary['index_mb_per_hour']} MB per hour; words per query {summary['words_per_query']}."
    )


def fit_calibration(rows: list[dict], scale: float = 6.0, margin: float = 0.1, feature: str = "distinct") -> dict:
    """Refit ``calibrated_score`` on the benchmark's segments (``calibration.json``).

    The evidence of a segment is ``w ln(feature) + density + v verified``. On the "fit"
    half (queries of half the source tracks), for each pair of weights ``(w, v)`` the
    threshold ``t`` is put ``margin`` above the strongest negative's evidence and the
    positives above it counted; the pair with the most is kept. The logistic is then
    ``scale * (evidence - t)`` (so the strongest fit negative scores
    ``1 / (1 + exp(scale * margin))``); the "test" half reports recall and false positives
    at 0.5 on segments the fit never saw. Rows without ``verified`` (runs before
    verification) fit ``v = 0``.
    """

    def arr(split, label):
        sel = [r for r in rows if r["split"] in split and r["label"] == label]
        return (np.array([r[feature] for r in sel], float), np.array([r["density"] for r in sel], float),
                np.array([r.get("verified", 0.0) for r in sel], float))  # fmt: skip

    def evidence(part, w, v):
        values, density, verified = part
        return w * np.log(np.maximum(values, 1)) + density + v * verified

    fit_half = ("fit",) if any(r["split"] == "test" for r in rows) else ("fit", "test")
    best = None
    pos, neg = arr(fit_half, 1), arr(fit_half, 0)
    weights_v = np.arange(0.0, 0.41, 0.02) if any("verified" in r for r in rows) else [0.0]
    for w in np.arange(0.1, 1.51, 0.05):
        for v in weights_v:
            t = float(np.max(evidence(neg, w, v))) + margin if len(neg[0]) else 0.0
            recall = int(np.sum(evidence(pos, w, v) > t))
            if best is None or recall > best[0]:
                best = (recall, float(w), float(v), t)
    _, w, v, t = best
    test_pos, test_neg = arr(("test",), 1), arr(("test",), 0)
    return {
        "feature": feature, "C0": round(-scale * t, 3), "C_DISTINCT": round(scale * w, 3), "C_DENSITY": scale,
        "C_VERIFIED": round(scale * v, 3),
        "fit_pos": len(pos[0]), "fit_neg": len(neg[0]), "fit_recall": round(best[0] / max(len(pos[0]), 1), 4),
        "fit_max_negative_z": round(scale * (float(np.max(evidence(neg, w, v))) - t), 3) if len(neg[0]) else None,
        "test_pos": len(test_pos[0]), "test_neg": len(test_neg[0]),
        "test_recall": round(float(np.mean(evidence(test_pos, w, v) > t)), 4) if len(test_pos[0]) else None,
        "test_fp": int(np.sum(evidence(test_neg, w, v) > t)),
        "test_max_negative_z": round(scale * (float(np.max(evidence(test_neg, w, v))) - t), 3) if len(test_neg[0]) else None,
    }  # fmt: skip


def cross_validated_fit(rows: list[dict], margins=tuple(round(0.1 * i, 1) for i in range(1, 11))) -> dict:
    """``fit_calibration`` with the smallest margin that survives two-fold cross-validation.

    For each margin (smallest first) the score is fit on one half of the source tracks and
    checked on the other, both ways round; the first margin at which neither held-out half
    has a negative segment at 0.5 is kept, and the constants are then fit on both halves
    with it. The margin is how far unseen negatives may reach beyond the ones fit on: the
    weights chosen on 4,000 negatives moved the strongest of another 32,000 by 0.4.
    """
    swapped = [dict(r, split={"fit": "test", "test": "fit"}.get(r["split"], r["split"])) for r in rows]
    for margin in margins:
        one, other = fit_calibration(rows, margin=margin), fit_calibration(swapped, margin=margin)
        if one["test_fp"] == 0 and other["test_fp"] == 0:
            break
    both = fit_calibration([dict(r, split="fit") for r in rows], margin=margin)
    return dict(both, margin=margin, held_out=[one, other])


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="reeltrace bench --audio")
    p.add_argument("--media", action="append")
    p.add_argument("--out", default="bench-out")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline", choices=["chromaprint", "audfprint"], help="run the baseline on the queries of a finished run in --out")
    p.add_argument("--levels", action="store_true", help="a finished run in --out: its mixed edits by in-band overlay level, and its overlays replayed quieter")
    args = p.parse_args(argv)
    return bench_audio(args)


def default_media() -> list[str]:
    folders = [os.path.join(os.getcwd(), "..", "shared", "media"), "/work/shared/media",
               os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "reeltrace-media")]  # fmt: skip
    out = []
    for f in folders:
        if os.path.isdir(f) and os.path.realpath(f) not in {os.path.realpath(o) for o in out}:
            out.append(f)
    return out


def bench_audio(args) -> int:
    if shutil.which("ffmpeg") is None:
        print("reeltrace: bench needs the ffmpeg command (Debian: apt-get install ffmpeg)", file=sys.stderr)
        return 1
    media = args.media or default_media()
    out = os.path.join(args.out, "audio-quick" if args.quick else "audio-full")
    started = time.perf_counter()
    baseline = getattr(args, "baseline", None)
    if isinstance(baseline, list):  # ``reeltrace bench --audio --baseline NAME`` (repeatable there)
        baseline = baseline[-1] if baseline else None
    reads_a_run = baseline in ("chromaprint", "audfprint") or getattr(args, "levels", False)
    if reads_a_run and not os.path.exists(os.path.join(out, "results.json")):
        print(f"reeltrace: no finished audio run in {out} (run reeltrace bench --audio first)", file=sys.stderr)
        return 1
    if baseline == "audfprint":
        summary = run_audfprint_baseline(out, media, seed=args.seed, quick=args.quick)
        print(baseline_markdown(summary))
        print(f"\nAt its own rule, {AUDFPRINT_MIN_COUNT} aligned hashes:\n" + baseline_markdown(summary, "table_min_count_5"))
        print(f"total {time.perf_counter() - started:.0f} s; details in {out}/baseline-audfprint.json")
        return 0
    if baseline == "chromaprint":
        summary = run_chromaprint_baseline(out, media, seed=args.seed, quick=args.quick)
        print(baseline_markdown(summary))
        print("\nAt BER <= 0.35:\n" + baseline_markdown(summary, "table_ber_0.35"))
        print(f"total {time.perf_counter() - started:.0f} s; details in {out}/baseline-chromaprint.json")
        return 0
    if getattr(args, "levels", False):
        print(levels_markdown(overlay_levels(out)))
        return 0
    summary = run_audio_bench(media, out, seed=args.seed, quick=args.quick)
    print(markdown(summary))
    print(f"total {time.perf_counter() - started:.0f} s; details in {out}/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
