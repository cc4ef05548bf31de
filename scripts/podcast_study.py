"""One podcast's episodes as same-catalogue hard negatives for the audio chain (issue 16):
one host's voice in every episode, and the same intro and outro jingle at the head and
tail of each, registered together.

    python scripts/podcast_study.py OUT --media ../shared/media [--media ...]
        [--episodes 8 --registered 6] [--seed 16] [--name NAME --set score.spectral_bar=9.8 ...]

Episodes are made from the LJSpeech utterances of the media folders (one reader, one
microphone: the same host) in seeded order, split evenly, each framed by one 8 s jingle cut
from a piece of music that is not LJSpeech, and its last 4 s again as the outro. The
first ``--registered`` episodes are registered; the rest are the same show's unregistered
episodes. Three kinds of query, each under the edits of ``catalogue_study.EDITS``:

- the host speaking in a registered episode: its own episode is the one right answer; any
  other episode claimed is a wrong-work claim;
- the host speaking in an unregistered episode: any claim is a false positive (same voice,
  same room, never registered);
- the jingle, from any episode: every registered episode holds that recording, so each
  claim on one is right; the scan should say that the works share it
  (``shares_audio_with``: every claim but the first names another claimed episode);
- 10 s across the end of the jingle into the host: the episode's own speech is claimed
  (where it is registered), the other episodes on the jingle only, never into their
  speech.

The voice-over edit lays a speaker other than the host over the episode (a host over
their own other episode would be a copy of that episode). Writes OUT/claims-NAME.json
(every segment of every scan) and prints each kind's counts per edit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

from catalogue_study import EDITS, LENGTHS, render
from reeltrace.audio.config import AudioConfig
from reeltrace.bench.audio.dataset import Item, Query, audio_info, collect, draw_overlay, seeded_fraction, segment_ok
from reeltrace.library import Library
from reeltrace.settings import with_settings

RATE = 22050
JINGLE = 8.0  # seconds of intro; the outro is its last OUTRO seconds
OUTRO = 4.0
GAP = 0.3  # silence between utterances, and around the jingle


@dataclass(frozen=True)
class Episode:
    path: str
    registered: bool
    speech_start: float  # where the host starts speaking
    speech_end: float  # where the outro begins, less GAP


def _decode(path: str) -> np.ndarray:
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.float32)


def _write(samples: np.ndarray, path: str) -> None:
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "-",
           "-c:a", "flac", path]  # fmt: skip
    subprocess.run(cmd, input=samples.astype(np.float32).tobytes(), capture_output=True, check=True)


def _loudest_start(x: np.ndarray, seconds: float) -> float:
    """Start (s) of the loudest ``seconds`` of ``x`` on a 1 s grid: a jingle is not cut
    from a fade-in."""
    n = int(seconds * RATE)
    starts = range(0, max(len(x) - n, 1), RATE)
    return max(starts, key=lambda s: float(np.mean(x[s : s + n] ** 2))) / RATE


def choose_jingle(media: list[str], seed: int) -> str:
    """The music the jingle is cut from: a piece of the media folders that is not one of
    the game-music catalogues, chosen on its file's name (the same show whichever way
    --media is spelled)."""
    music = [i for i in collect(media, seed) if i.kind == "music" and "/music/" not in i.path and i.duration >= 20]
    if not music:
        raise SystemExit("podcast_study: no music of 20 s or more outside the game-music catalogues to cut a jingle from")
    return min(music, key=lambda i: seeded_fraction(seed, "jingle" + os.path.basename(i.path))).path


def make_episodes(media: list[str], out: str, episodes: int, registered: int, seed: int) -> tuple[list[Episode], str]:
    """The show's episodes (written once into ``out``) and the jingle's source file."""
    lj = sorted({os.path.join(d, f) for root in media for d, _, fs in os.walk(root) for f in fs
                 if "ljspeech" in d.lower() and f.endswith(".flac")})  # fmt: skip
    if len(lj) < 2 * episodes:
        raise SystemExit(f"podcast_study: {len(lj)} LJSpeech utterances under the media folders; {2 * episodes} needed")
    jingle_src = choose_jingle(media, seed)
    lj.sort(key=lambda p: seeded_fraction(seed, "host" + os.path.basename(p)))
    os.makedirs(out, exist_ok=True)
    full = _decode(jingle_src)
    at = _loudest_start(full, JINGLE)
    jingle = full[int(at * RATE) : int((at + JINGLE) * RATE)]
    gap = np.zeros(int(GAP * RATE), np.float32)
    shows = []
    for e in range(episodes):
        path = os.path.join(out, f"episode{e:02d}.flac")
        speech = [_decode(p) for p in lj[e::episodes]]
        body = np.concatenate([np.concatenate([s, gap]) for s in speech])
        start = (len(jingle) + len(gap)) / RATE
        if not os.path.exists(path):
            _write(np.concatenate([jingle, gap, body, jingle[-int(OUTRO * RATE) :]]), path)
        shows.append(Episode(path, e < registered, start, start + len(body) / RATE - GAP))
    return shows, jingle_src


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--media", action="append", required=True)
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--registered", type=int, default=6)
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--name", default="default")
    p.add_argument("--set", action="append", default=[], help="an AudioConfig field, NAME=VALUE (dotted)")
    args = p.parse_args(argv)
    # OUT keeps its episodes and library: a second run must be of the same show.
    recipe_path = os.path.join(args.out, "recipe.json")
    stored = None
    if os.path.exists(recipe_path):
        with open(recipe_path, encoding="utf-8") as fh:
            stored = json.load(fh)
    os.makedirs(args.out, exist_ok=True)
    recipe = {"episodes": args.episodes, "registered": args.registered, "seed": args.seed,
              "jingle": os.path.basename(choose_jingle(args.media, args.seed))}  # fmt: skip
    if stored is not None and stored != recipe:
        raise SystemExit(f"podcast_study: {args.out} holds another show ({recipe_path}: {stored}); give a new OUT")
    with open(recipe_path, "w", encoding="utf-8") as fh:
        json.dump(recipe, fh)
    shows, jingle_src = make_episodes(args.media, os.path.join(args.out, "episodes"), args.episodes, args.registered, args.seed)
    print(f"{len(shows)} episodes ({args.registered} registered), jingle from {os.path.basename(jingle_src)}", file=sys.stderr)
    others = [i for i in collect(args.media, args.seed) if i.kind == "speech" and "ljspeech" not in i.path.lower()]

    rng = np.random.default_rng(args.seed)
    qdir = os.path.join(args.out, "queries")
    os.makedirs(qdir, exist_ok=True)
    jobs, queries = [], []
    for n, show in enumerate(shows):
        d, r = audio_info(show.path)
        item = Item(show.path, "podcast", "speech", d, r, show.registered)
        kinds = [("host", L, e) for L in LENGTHS for e in EDITS] + [("jingle", 5.0, e) for e in EDITS[:4]]
        kinds += [("straddle", 10.0, e) for e in EDITS[:4]]
        for ki, (kind, length, edit) in enumerate(kinds):
            if kind == "host":
                start = float(rng.uniform(show.speech_start, show.speech_end - length))
            elif kind == "jingle":
                start = float(rng.uniform(0.2, JINGLE - length - 0.2))
            else:
                start = show.speech_start - float(rng.uniform(3.0, 5.0))
            overlay = draw_overlay(edit, length, others, rng)
            if edit.overlay_kind and overlay is None:
                raise SystemExit(f"podcast_study: no speech of {length / edit.speed + 2:g} s or more in the media to lay over a query")
            # The start is in the name: a rendered query is reused only for the same recipe.
            path = os.path.join(qdir, f"ep{n:02d}_{kind}_{int(length)}s_{ki:02d}_{round(start * 1000)}.{edit.ext}")
            if not os.path.exists(path):
                jobs.append((item, start, length, edit, path, args.seed + n * 100 + ki, overlay))
            split = "registered" if show.registered else "unregistered"
            queries.append(Query(path, edit.name, length, kind, show.path if show.registered else None, start, edit.speed, split))
    render(jobs)

    config = with_settings(AudioConfig(), args.set)
    lib_dir = os.path.join(args.out, "library")
    fresh = not Library.exists(lib_dir)
    with Library(lib_dir, audio=config) as lib:
        if fresh:
            for n, show in enumerate(s for s in shows if s.registered):
                r = lib.register(show.path, category="audio", work_id=f"episode{n:02d}")
                if r.error:
                    raise SystemExit(f"podcast_study: register failed: {show.path}: {r.error}")
        path_of = {w.key: w.source_path for w in lib.works()}
        speech_of = {s.path: (s.speech_start, s.speech_end) for s in shows}
        rows = []
        for q in queries:
            res = lib.scan(q.path, trace=True)
            if res.error:
                raise SystemExit(f"podcast_study: scan failed: {q.path}: {res.error}")
            claimed = {m.work.key: m for m in res.matches}
            for key, segs in (res.trace.audio if res.trace else {}).items():
                work = path_of.get(key, "?")
                match = claimed.get(key)
                for s in segs:
                    e = s.audio
                    own = work == q.truth
                    lo, hi = speech_of.get(work, (0.0, 0.0))
                    shown = [m for m in (match.segments if match else []) if abs(m.work_start - s.work_start) < 1e-6]
                    rows.append({"query": os.path.basename(q.path), "kind": q.kind, "split": q.split, "edit": q.edit,
                                 "length": q.length, "work": os.path.basename(work), "own": own,
                                 "place": bool(own and segment_ok(s, q)), "claimed": bool(shown) and s.score >= config.threshold,
                                 "shares_audio_with": shown[0].shares_audio_with if shown else "",
                                 "into_speech": s.work_end > lo + 0.5 and s.work_start < hi - 0.5,
                                 "work_start": round(s.work_start, 2), "work_end": round(s.work_end, 2),
                                 "score": round(s.score, 4), "hits": e.hits, "verified": round(e.verified, 3),
                                 "spectral": round(e.spectral, 3)})  # fmt: skip
    with open(os.path.join(args.out, f"claims-{args.name}.json"), "w", encoding="utf-8") as fh:
        json.dump(rows, fh, indent=0)
    report(rows, queries, args.registered)
    return 0


def _named_shared(claims: list[dict]) -> bool:
    """Whether every claimed episode but one names another claimed episode it shares the
    recording with (the one left is the work the others were explained by)."""
    works = {r["work"].removesuffix(".flac") for r in claims}
    unnamed = {r["work"] for r in claims if r["shares_audio_with"] not in works}
    return len(works) > 1 and len(unnamed) <= 1


def report(rows: list[dict], queries: list[Query], registered: int) -> None:
    by_query: dict[str, list[dict]] = {}
    for r in rows:
        by_query.setdefault(r["query"], []).append(r)
    for kind, split in ((k, s) for k in ("host", "jingle", "straddle") for s in ("registered", "unregistered")):
        qs = [q for q in queries if q.kind == kind and q.split == split]
        print(f"{kind} in {split} episodes: {len(qs)} queries")
        for edit in dict.fromkeys(q.edit for q in qs):
            for length in sorted({q.length for q in qs}):
                sub = [by_query.get(os.path.basename(q.path), []) for q in qs if q.edit == edit and q.length == length]
                claims = [[r for r in rs if r["claimed"]] for rs in sub]
                if kind == "host" and split == "unregistered":
                    print(f"   {edit:>18} {length:>4g}s  an episode claimed in {sum(bool(c) for c in claims)}/{len(sub)}")
                elif kind == "host":
                    found = sum(any(r["place"] for r in c) for c in claims)
                    wrong = sum(any(not r["own"] for r in c) for c in claims)
                    print(f"   {edit:>18} {length:>4g}s  own episode {found}/{len(sub)}  other episode claimed in {wrong}")
                else:
                    works = [len({r["work"] for r in c}) for c in claims]
                    named = sum(_named_shared(c) for c in claims)
                    spill = sum(any(r["into_speech"] and not r["own"] for r in c) for c in claims)
                    own = sum(any(r["own"] and r["into_speech"] for r in c) for c in claims)
                    print(f"   {edit:>18} {length:>4g}s  episodes claimed per query {works} of {registered}; "
                          f"named shared in {named}/{len(sub)}; own speech {own}; another's speech {spill}")  # fmt: skip
    wrong = [r for r in rows if r["claimed"] and r["kind"] == "host" and not r["own"]]
    for r in sorted(wrong, key=lambda r: -r["score"])[:15]:
        print(f"   WRONG {r['query']} -> {r['work']} score {r['score']} hits {r['hits']} verified {r['verified']} spectral {r['spectral']}")
    chance = max((r["score"] for r in rows if r["kind"] == "host" and not r["own"]), default=0.0)
    print(f"strongest other-episode segment under the host's voice: {chance:.3f}")


if __name__ == "__main__":
    sys.exit(main())
