"""Same-catalogue hard negatives for the audio chain (issue 16): register every track of
whole catalogues (each Debian game-music package is one composer's or one game's album),
scan short excerpts of those tracks under edits, and list every claim a query makes on a
registered track other than its own, with the evidence of each segment, claimed or not.

    python scripts/catalogue_study.py OUT --media ~/.cache/reeltrace-media [--media ...]
        [--per-catalogue 10] [--seed 16] [--name NAME --set verify.cost=1.5 ...]

Catalogues are split by origin into a tuning half and a reporting half (a package's
position in the seeded order), so a rule chosen on one half is checked on the other.
Queries are rendered once into OUT/queries and reused; the library is rebuilt only
when it is missing. Writes OUT/claims-NAME.json (every segment of every scan, unthresholded)
and prints, per half: positives found, claims on other works (same catalogue or not), and
the strongest other-work segment's score.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from reeltrace.audio.config import AudioConfig
from reeltrace.bench.audio.dataset import VOICE, Edit, Query, _noise, _rms, _speed, _tempo, collect, draw_overlay, make_query, seeded_fraction, segment_ok
from reeltrace.library import Library
from reeltrace.settings import with_settings

EDITS = (
    Edit("clean"),
    Edit("mp3 32k", codec=("-c:a", "libmp3lame", "-b:a", "32k"), ext="mp3"),
    _noise("pink", 5),
    _noise("white", 0),
    VOICE,
    _speed(1.1),
    _tempo(0.9),
    Edit("band 300-3400", ("highpass=f=300", "lowpass=f=3400")),
)
LENGTHS = (5.0, 10.0)


def render(jobs: list[tuple]) -> None:
    """Render ``make_query`` jobs ``(item, start, length, edit, path, seed, overlay)``, one
    ffmpeg per core."""
    if jobs:
        print(f"rendering {len(jobs)} queries", file=sys.stderr)
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            list(pool.map(lambda j: make_query(*j[:6], overlay=j[6]), jobs))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--media", action="append", required=True)
    p.add_argument("--per-catalogue", type=int, default=10)
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--name", default="default")
    p.add_argument("--set", action="append", default=[], help="an AudioConfig field, NAME=VALUE (dotted)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    items = collect(args.media, args.seed)
    music = [i for i in items if i.kind == "music" and "/music/" in i.path]
    speech = [i for i in items if i.kind == "speech"]
    groups = sorted({i.group for i in music}, key=lambda g: seeded_fraction(args.seed, "cat" + g))
    half = {g: ("tune" if n % 2 == 0 else "report") for n, g in enumerate(groups)}
    print(f"catalogues: {', '.join(f'{g} ({half[g]}, {sum(i.group == g for i in music)} tracks)' for g in groups)}", file=sys.stderr)

    rng = np.random.default_rng(args.seed)
    jobs, queries = [], []
    qdir = os.path.join(args.out, "queries")
    os.makedirs(qdir, exist_ok=True)
    for g in groups:
        tracks = sorted((i for i in music if i.group == g and i.duration >= 30), key=lambda i: seeded_fraction(args.seed, i.path))
        for ti, src in enumerate(tracks[: args.per_catalogue]):
            for length in LENGTHS:
                for ei, edit in enumerate(EDITS):
                    start = float(rng.uniform(0.5, src.duration - length - 0.5))
                    overlay = draw_overlay(edit, length, speech, rng)
                    if edit.overlay_kind and overlay is None:
                        raise SystemExit(f"catalogue_study: no speech of {length / edit.speed + 2:g} s or more in the media to lay over a query")
                    path = os.path.join(qdir, f"{g}_{ti:02d}_{int(length)}s_{ei:02d}.{edit.ext}")
                    if not os.path.exists(path):
                        jobs.append((src, start, length, edit, path, args.seed + ti * 100 + ei, overlay))
                    q = Query(path, edit.name, length, "music", src.path, start, edit.speed, half[g])
                    queries.append(q)
    render(jobs)

    # An excerpt of silence (a sound effect's tail) is no query of its work.
    silent = {q.path for q in queries if _rms(q.path, 0.0, q.length) < 1e-3}
    queries = [q for q in queries if q.path not in silent]
    print(f"{len(queries)} queries ({len(silent)} silent excerpts left out)", file=sys.stderr)
    config = with_settings(AudioConfig(), args.set)
    lib_dir = os.path.join(args.out, "library")
    fresh = not Library.exists(lib_dir)
    with Library(lib_dir, audio=config) as lib:
        if fresh:
            for n, it in enumerate(music):
                r = lib.register(it.path, category="audio", work_id=f"c{n:04d}")
                if r.error:
                    print(f"register failed: {it.path}: {r.error}", file=sys.stderr)
            print(f"registered {len(music)} tracks, {sum(i.duration for i in music) / 3600:.2f} h", file=sys.stderr)
        path_of = {w.key: w.source_path for w in lib.works()}
        rows = []
        for n, q in enumerate(queries):
            res = lib.scan(q.path, trace=True)
            claimed = {m.work.key for m in res.matches}
            for key, segs in (res.trace.audio if res.trace else {}).items():
                for s in segs:
                    e = s.audio
                    right = path_of.get(key) == q.truth
                    rows.append({"query": os.path.basename(q.path), "half": q.split, "edit": q.edit, "length": q.length,
                                 "work": os.path.basename(path_of.get(key, "?")), "own": right,
                                 "place": bool(right and segment_ok(s, q)), "claimed": key in claimed and s.score >= config.threshold,
                                 "score": round(s.score, 4), "hits": e.hits, "distinct": e.distinct,
                                 "density": round(e.density, 4), "verified": round(e.verified, 3), "spectral": round(e.spectral, 3),
                                 "same_catalogue": os.path.dirname(path_of.get(key, "")) == os.path.dirname(q.truth)})  # fmt: skip
            if (n + 1) % 100 == 0:
                print(f"  scanned {n + 1}/{len(queries)}", file=sys.stderr)
    with open(os.path.join(args.out, f"claims-{args.name}.json"), "w", encoding="utf-8") as fh:
        json.dump(rows, fh, indent=0)
    report(rows, queries)
    return 0


def report(rows: list[dict], queries: list[Query]) -> None:
    for h in ("tune", "report"):
        qs = [q for q in queries if q.split == h]
        names = {os.path.basename(q.path) for q in qs}
        mine = [r for r in rows if r["query"] in names]
        found = {r["query"] for r in mine if r["own"] and r["claimed"]}
        wrong = [r for r in mine if not r["own"] and r["claimed"]]
        other = max((r["score"] for r in mine if not r["own"]), default=0.0)
        print(f"{h}: {len(found)}/{len(qs)} found; {len(wrong)} claims on other works "
              f"({sum(r['same_catalogue'] for r in wrong)} same catalogue) from {len({r['query'] for r in wrong})} queries; "
              f"strongest other-work segment {other:.3f}")  # fmt: skip
        for e in dict.fromkeys(q.edit for q in qs):
            for L in LENGTHS:
                sub = [os.path.basename(q.path) for q in qs if q.edit == e and q.length == L]
                print(f"   {e:>18} {L:>4g}s {sum(s in found for s in sub)}/{len(sub)}")
        for r in sorted(wrong, key=lambda r: -r["score"])[:15]:
            print(f"   WRONG {r['query']} -> {r['work']} score {r['score']} hits {r['hits']} distinct {r['distinct']} "
                  f"density {r['density']} verified {r['verified']}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
