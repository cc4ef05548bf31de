"""Ground truth of the Big Buck Bunny trailer, read from trailer.py, the moviepy script that
cut it; and a check of a `reeltrace scan --format json` report against it.

The truth is derived from the script itself, not typed in: the `video.with_subclip(a, b)`
calls give each shot's film interval, `with_cutout` the part removed from a shot,
`with_start(X.end - d)` when a shot starts, and `MultiplySpeed(f)` its speed.

    python -m reeltrace.bench.trailer trailer.py report.json   # exit 0: every shot found
                                                               # within 1 s, nothing else
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field

TOLERANCE = 1.0  # seconds, on work times (the "within 1 s of the truth")


def seconds(token: str) -> float:
    token = token.strip().strip("'\"")
    total = 0.0
    for part in token.split(":"):
        total = total * 60 + float(part)
    return total


@dataclass
class Shot:
    name: str
    film_start: float
    film_end: float
    cutout: tuple[float, float] | None = None
    speed: float = 1.0
    start_expr: str | None = None
    start: float = 0.0
    pieces: list[tuple[float, float, float, float]] = field(default_factory=list)  # q0, q1, w0, w1

    @property
    def duration(self) -> float:
        cut = self.cutout[1] - self.cutout[0] if self.cutout else 0.0
        return (self.film_end - self.film_start - cut) / self.speed


def parse(script: str) -> list[Shot]:
    shots: dict[str, Shot] = {}
    for name, a, b in re.findall(r"(\w+)\s*=\s*video\.with_subclip\(([^,]+),([^)]+)\)", script):
        shots[name] = Shot(name, seconds(a), seconds(b))
    for name, s, e in re.findall(r"(\w+)\s*=\s*\1\.with_cutout\(start_time=([\d.]+),\s*end_time=([\d.]+)\)", script):
        shots[name].cutout = (float(s), float(e))
    for name, expr in re.findall(r"(\w+)\s*=\s*\1\.with_start\(([^)]*)\)", script):
        if name in shots:
            shots[name].start_expr = expr
    for name, factor in re.findall(r"(\w+)\s*=\s*\1\.with_effects\(\[vfx\.MultiplySpeed\(([\d.]+)\)\]\)", script):
        shots[name].speed = float(factor)
    resolved: dict[str, Shot] = {}
    while len(resolved) < len(shots):
        progress = False
        for shot in shots.values():
            if shot.name in resolved:
                continue
            if shot.start_expr is None:
                shot.start = 0.0
            else:
                m = re.fullmatch(r"\s*(\w+)\.end\s*(?:-\s*([\d.]+))?\s*", shot.start_expr)
                if not m:
                    raise ValueError(f"cannot read start of {shot.name}: {shot.start_expr}")
                if m.group(1) not in resolved:
                    continue
                before = resolved[m.group(1)]
                shot.start = before.start + before.duration - float(m.group(2) or 0)
            resolved[shot.name] = shot
            progress = True
        if not progress:
            raise ValueError("circular start times")
    for shot in shots.values():
        q = shot.start
        spans = [(shot.film_start, shot.film_end)]
        if shot.cutout:
            cut0, cut1 = shot.film_start + shot.cutout[0], shot.film_start + shot.cutout[1]
            spans = [(shot.film_start, cut0), (cut1, shot.film_end)]
        for w0, w1 in spans:
            q1 = q + (w1 - w0) / shot.speed
            shot.pieces.append((q, q1, w0, w1))
            q = q1
    return sorted(shots.values(), key=lambda s: s.start)


def truth_segments(script_path: str) -> list[tuple[str, float, float, float, float]]:
    """(shot, trailer start, trailer end, film start, film end) for every piece of film used."""
    shots = parse(open(script_path, encoding="utf-8").read())
    return [(s.name, *p) for s in shots for p in s.pieces]


def main(script_path: str, report_path: str) -> int:
    truth = truth_segments(script_path)
    report = json.load(open(report_path, encoding="utf-8"))
    segments = [seg for r in report["results"] for m in r["matches"] for seg in m["segments"]]
    used = set()
    ok = True
    worst = 0.0
    print(f"{'shot':14} {'trailer (truth)':>17} {'film (truth)':>17}   {'film (reeltrace)':>17}  error")
    for name, q0, q1, w0, w1 in truth:
        found = None
        for i, seg in enumerate(segments):
            overlap = min(q1, seg["query_end"]) - max(q0, seg["query_start"])
            if overlap > 0 and abs(seg["work_start"] - w0) <= TOLERANCE and abs(seg["work_end"] - w1) <= TOLERANCE:
                found = i
                break
        if found is None:
            ok = False
            print(f"{name:14} {q0:7.2f}-{q1:7.2f}  {w0:7.2f}-{w1:7.2f}   {'MISSING':>17}")
            continue
        used.add(found)
        seg = segments[found]
        err = max(abs(seg["work_start"] - w0), abs(seg["work_end"] - w1))
        worst = max(worst, err)
        print(f"{name:14} {q0:7.2f}-{q1:7.2f}  {w0:7.2f}-{w1:7.2f}   {seg['work_start']:7.2f}-{seg['work_end']:7.2f}  {err:.2f} s")
    for i, seg in enumerate(segments):
        if i not in used:
            ok = False
            print(f"{'NOT IN TRAILER':14} {seg['query_start']:7.2f}-{seg['query_end']:7.2f}  film {seg['work_start']:.2f}-{seg['work_end']:.2f}")
    if ok:
        print(f"PASS: all {len(truth)} shots found, work times at most {worst:.2f} s off the script's (the check allows "
              f"{TOLERANCE:g} s), nothing else reported")  # fmt: skip
    else:
        print(f"FAIL: a shot missing, more than {TOLERANCE:g} s off, or a segment the trailer does not hold (above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
