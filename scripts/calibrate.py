"""Fit the segment score (``reeltrace.video.score.ScoreModel``) on real clips.

    .venv/bin/python scripts/calibrate.py --media /work/shared/media --out /tmp/calib

What it does (``docs/calibration.md`` gives the results and the reasoning):

1. Reads ``MANIFEST.tsv`` and groups the video clips into families: one per origin
   (repository), except that every clip cut from Big Buck Bunny is put in one "bbb" family
   whatever its origin. Families, shuffled with ``--seed``, go either to the *works* (about
   40% of the clips, at most ``--work-seconds`` in all) or to the *negatives*; a family is
   never split, so no negative shares footage with a registered work.
2. Registers the works in a fresh library under ``--out``.
3. Makes queries under ``--out/queries`` with PyAV (decode, edit each frame with
   numpy/PIL, encode with libx264): positives are excerpts of 3-20 s of registered works
   under one edit or a combination of two; negatives are every unregistered clip, whole and
   unedited, plus one edited excerpt of each.
4. Scans every query with ``Library.scan(path, trace=True)``, the production path with its
   background penalty, and reads every chain the video chain scored, above the threshold
   or not, from ``trace.video`` (``chain_rows``). A chain is *true* when it is on the
   source work and the work times it reports lie (median over its query samples) within
   ``TRUTH_TOLERANCE`` seconds of the known mapping ``w = start + speed * q``; *misplaced*
   when it is the source work elsewhere; *false* otherwise (every chain of a negative
   query, and chains of positives to other works).
5. Fits a logistic regression (numpy IRLS, small L2) of true vs. not-true over the
   chains' ``VideoEvidence`` (similarity, frames, coverage: what
   ``ScoreModel.score_evidence`` reads), with a grouped cross-validation (folds by family)
   for honest numbers, and sets the operating point: ``--margin`` logit units above the
   highest scoring false chain. The bias is shifted so that score 0.5 is that operating
   point.

Writes ``chains.tsv`` (every chain, its features, label and out-of-fold score),
``queries.tsv`` and ``result.json`` into ``--out``. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from reeltrace import Library
from reeltrace.bench.video.dataset import FAMILY_OVERRIDES, ORIGIN_FAMILY, SAME_FOOTAGE
from reeltrace.media.container import probe
from reeltrace.records import ScanTrace, Segment
from reeltrace.video.score import ScoreModel

TRUTH_TOLERANCE = 2.0  # work seconds between a true chain's nodes and the known mapping
BBB_NAMES = ("big_buck_bunny",)  # clips named after the film: one "bbb" family
TRAILER = os.path.expanduser("~/.cache/reeltrace-media/film/trailer_bbb.mp4")
MAX_SIDE = 640  # edited queries are made at most this size (the matcher analyses less)

SINGLE_EDITS = (
    "none",
    "crop",
    "mirror",
    "letterbox",
    "pillarbox",
    "vertical",
    "lowres",
    "color",
    "gray",
    "text",
    "speed0.5",
    "speed1.5",
    "speed2",
    "rotate5",
)
COMBINABLE = ("crop", "mirror", "letterbox", "vertical", "lowres", "color", "gray", "text", "rotate5", "speed1.5")


# -- data -------------------------------------------------------------------------------------


@dataclass
class Clip:
    path: str  # absolute
    rel: str
    origin: str
    duration: float
    family: str


def load_clips(media: str) -> list[Clip]:
    clips = []
    with open(os.path.join(media, "MANIFEST.tsv"), newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["kind"] != "video":
                continue
            rel = row["path"]
            family = FAMILY_OVERRIDES.get(rel) or ("bbb" if any(n in rel.lower() for n in BBB_NAMES) else ORIGIN_FAMILY.get(row["source"], row["source"]))
            clips.append(Clip(os.path.join(media, rel), rel, row["source"], float(row["duration_s"]), family))
    clips.sort(key=lambda c: c.rel)
    return clips


def split_families(clips: list[Clip], rng: np.random.Generator, fraction: float, cap: float) -> tuple[list[Clip], list[Clip]]:
    families = sorted({c.family for c in clips})
    rng.shuffle(families)
    target = fraction * len(clips)
    works: list[Clip] = []
    seconds = 0.0
    chosen = set()
    for fam in families:
        members = [c for c in clips if c.family == fam]
        dur = sum(c.duration for c in members)
        if len(works) >= target:
            break
        if seconds + dur > cap or len(works) + len(members) > target * 1.25:
            continue
        works += members
        seconds += dur
        chosen.add(fam)
    negatives = [c for c in clips if c.family not in chosen]
    return works, negatives


# -- edits --------------------------------------------------------------------------------------


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


class Editor:
    """One query's edit: a frame function with its random parameters fixed."""

    def __init__(self, names: list[str], rng: np.random.Generator):
        self.names = names
        self.speed = 1.0
        self.crf = 23
        self.scale = 1.0
        self.steps = []
        for name in names:
            if name.startswith("speed"):
                self.speed = float(name[5:])
            elif name == "lowres":
                self.scale = float(rng.uniform(0.25, 0.4))
                self.crf = int(rng.integers(36, 42))
            elif name == "crop":
                keep = 1.0 - float(rng.uniform(0.10, 0.30))  # fraction of each side kept
                self.steps.append(("crop", keep, float(rng.uniform()), float(rng.uniform())))
            elif name == "color":
                self.steps.append(
                    ("color", float(rng.uniform(0.7, 1.35)), float(rng.uniform(0.6, 1.4)), float(rng.uniform(0.3, 1.7)))
                )
            elif name == "text":
                words = ["WOW", "must see!!", "follow for more", "LOL", "part 2", "reupload", "HD 1080p"]
                self.steps.append(("text", words[int(rng.integers(len(words)))], float(rng.uniform(0.05, 0.7))))
            elif name == "letterbox":
                self.steps.append(("pad", "tb", float(rng.uniform(0.15, 0.3))))
            elif name == "pillarbox":
                self.steps.append(("pad", "lr", float(rng.uniform(0.15, 0.3))))
            elif name in ("mirror", "gray", "vertical", "rotate5", "none"):
                self.steps.append((name,))
            else:
                raise ValueError(name)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        img = Image.fromarray(rgb)
        for step in self.steps:
            kind = step[0]
            w, h = img.size
            if kind == "crop":
                _, keep, fx, fy = step
                cw, ch = int(w * keep), int(h * keep)
                x0, y0 = int((w - cw) * fx), int((h - ch) * fy)
                img = img.crop((x0, y0, x0 + cw, y0 + ch))
            elif kind == "mirror":
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
            elif kind == "gray":
                img = img.convert("L").convert("RGB")
            elif kind == "color":
                from PIL import ImageEnhance

                _, b, c, s = step
                img = ImageEnhance.Brightness(img).enhance(b)
                img = ImageEnhance.Contrast(img).enhance(c)
                img = ImageEnhance.Color(img).enhance(s)
            elif kind == "text":
                _, text, fy = step
                draw = ImageDraw.Draw(img)
                size = max(12, h // 8)
                try:
                    font = ImageFont.load_default(size=size)
                except TypeError:
                    font = ImageFont.load_default()
                y = int(h * fy)
                draw.rectangle((0, y, w, y + int(size * 1.4)), fill=(0, 0, 0))
                draw.text((w // 20, y + size // 6), text, fill=(255, 255, 0), font=font)
            elif kind == "pad":
                _, side, frac = step
                if side == "tb":
                    nh = int(h / (1 - frac))
                    canvas = Image.new("RGB", (w, nh))
                    canvas.paste(img, (0, (nh - h) // 2))
                else:
                    nw = int(w / (1 - frac))
                    canvas = Image.new("RGB", (nw, h))
                    canvas.paste(img, ((nw - w) // 2, 0))
                img = canvas
            elif kind == "vertical":
                # 9:16 canvas: the picture blurred and scaled to fill it, the picture itself
                # as a band across the middle.
                cw = w if w * 16 >= h * 9 else int(h * 9 / 16)
                cw = min(cw, 360)
                ch = int(cw * 16 / 9)
                scale = max(cw / w, ch / h) / 4  # blur at quarter size: as soft, 16x cheaper
                small = img.resize((int(w * scale) + 1, int(h * scale) + 1), Image.BILINEAR)
                bx, by = (small.width - cw // 4) // 2, (small.height - ch // 4) // 2
                small = small.crop((bx, by, bx + cw // 4, by + ch // 4)).filter(ImageFilter.GaussianBlur(3))
                bg = small.resize((cw, ch), Image.BILINEAR)
                fg = img.resize((cw, max(2, int(h * cw / w))), Image.BILINEAR)
                if fg.height > ch:
                    fg = fg.crop((0, (fg.height - ch) // 2, cw, (fg.height - ch) // 2 + ch))
                bg.paste(fg, (0, (ch - fg.height) // 2))
                img = bg
            elif kind == "rotate5":
                img = img.rotate(5, resample=Image.BILINEAR, expand=False)
        return np.asarray(img)


def make_query(src: str, start: float, length: float, editor: Editor, out_path: str) -> float:
    """Write ``length`` query seconds showing ``src`` from ``start`` at ``editor.speed``.
    Returns the query duration written."""
    info = probe(src)
    fps_out = min(15.0, info.fps if info.fps and info.fps > 1 else 15.0)
    fps_out = max(fps_out, 5.0)
    n_out = max(1, int(round(length * fps_out)))
    need = [start + editor.speed * j / fps_out for j in range(n_out)]
    inp = av.open(src)
    vs = inp.streams.video[0]
    vs.thread_type = "AUTO"
    t0 = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
    out = None
    stream = None
    j = 0
    current = None
    written = 0

    cache: dict = {}

    def emit(frame) -> None:
        nonlocal out, stream, written
        if cache.get("frame") is not frame:
            s = min(1.0, MAX_SIDE / max(frame.width, frame.height))
            rgb = frame.to_ndarray(width=_even(frame.width * s), height=_even(frame.height * s), format="rgb24")
            cache.update(frame=frame, out=editor.apply(rgb))
        frame_rgb = cache["out"]
        h, w = frame_rgb.shape[:2]
        if stream is None:
            out = av.open(out_path, "w")
            stream = out.add_stream("libx264", rate=Fraction(fps_out).limit_denominator(1000))
            stream.width, stream.height = _even(w * editor.scale) - 0, _even(h * editor.scale)
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(editor.crf), "preset": "veryfast"}
            stream.codec_context.thread_count = 2
        img = Image.fromarray(frame_rgb).resize((stream.width, stream.height), Image.BILINEAR)
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")):
            out.mux(packet)
        written += 1

    try:
        for frame in inp.decode(vs):
            t = float(frame.pts * frame.time_base) - t0 if frame.pts is not None else 0.0
            while j < n_out and need[j] < t - 1e-6:
                if current is not None:
                    emit(current)
                j += 1
            if j >= n_out:
                break
            current = frame  # converted only when emitted
        while j < n_out and current is not None:  # source ends: hold no frames past it
            if need[j] > info.duration + 0.1:
                break
            emit(current)
            j += 1
    finally:
        inp.close()
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)
            out.close()
    return written / fps_out


# -- chains -----------------------------------------------------------------------------------


def placement_error(segment: Segment, start: float, speed: float, sample_step: float) -> float:
    """Median, over the query samples a segment covers, of the distance between the work
    time it reports (its bounds joined by a line) and the true one, ``start + speed * q``."""
    half = sample_step / 2
    q = np.arange(segment.query_start + half, segment.query_end - half + 1e-9, sample_step)
    if len(q) == 0:
        q = np.array([(segment.query_start + segment.query_end) / 2])
    span = segment.query_end - segment.query_start
    rate = (segment.work_end - segment.work_start) / span if span > 0 else segment.speed
    reported = segment.work_start + rate * (q - segment.query_start)
    return float(np.median(np.abs(reported - (start + speed * q))))


def chain_rows(
    query: dict, library: str, trace: ScanTrace, works_of: dict[int, Clip], key_of: dict[str, int], sample_step: float
) -> list[dict]:
    """One row per chain the scan's video chain scored (``trace.video``): its evidence, its
    label against the query's known source (``query``: id, kind, edit, family, src, clip,
    start, speed) and its placement."""
    source = key_of.get(query["src"], -1) if query["src"] else -1
    kind = "pos" if source >= 0 else "neg"
    rows = []
    for work_key, segments in trace.video.items():
        other = works_of[work_key]
        for segment in segments:
            evidence = segment.video
            label = "false"
            err = float("nan")
            if work_key != source and (
                other.family == query["family"] or frozenset({other.rel, query["clip"]}) in SAME_FOOTAGE
            ):
                # Another work of the query's own family: preview GIFs cut from the
                # registered mp4, one signer in one room: copy or not is unknown.
                label = "sibling"
            elif work_key == source:
                err = placement_error(segment, query["start"], query["speed"], sample_step)
                label = "true" if err <= TRUTH_TOLERANCE else "misplaced"
            rows.append(dict(query=query["id"], library=library, kind=kind, edit=query["edit"], family=query["family"],
                             work=work_key, label=label, mean_sim=evidence.similarity, frames=evidence.frames,
                             coverage=evidence.coverage, q0=segment.query_start, q1=segment.query_end,
                             speed=segment.speed, offset=segment.work_start - segment.speed * segment.query_start,
                             err=err))  # fmt: skip
    return rows


# -- fitting ---------------------------------------------------------------------------------


def design(feats: np.ndarray) -> np.ndarray:
    """Rows (1, mean_sim, log frames, coverage) from rows (mean_sim, frames, coverage)."""
    return np.c_[np.ones(len(feats)), feats[:, 0], np.log(feats[:, 1]), feats[:, 2]]


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float, iters: int = 100) -> np.ndarray:
    """Newton/IRLS for L2-penalised logistic regression (bias not penalised)."""
    beta = np.zeros(X.shape[1])
    penalty = np.full(X.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(X @ beta, -40, 40)))
        grad = X.T @ (p - y) + penalty * beta
        hess = (X * (p * (1 - p))[:, None]).T @ X + np.diag(penalty) + 1e-9 * np.eye(X.shape[1])
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def operating_logit(logits_false: np.ndarray, margin: float) -> float:
    return (float(logits_false.max()) if len(logits_false) else 0.0) + margin


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", required=True)
    ap.add_argument("--out", required=True, help="work folder (library, queries, results); not in the repo")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-fraction", type=float, default=0.4)
    ap.add_argument("--work-seconds", type=float, default=540.0)
    ap.add_argument("--positives", type=int, default=100)
    ap.add_argument("--neg-max-seconds", type=float, default=30.0, help="longer negatives are cut to this")
    ap.add_argument("--no-swap", dest="swap", action="store_false", help="do not also scan against the negatives registered")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--margin", type=float, default=1.0, help="logit units above the highest false chain")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--misplaced", choices=("false", "drop"), default="drop",
                    help="chains on the right work at the wrong time: fit them as false, or leave them out of the fit")
    args = ap.parse_args(argv)

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    qdir = os.path.join(args.out, "queries")
    os.makedirs(qdir)

    clips = load_clips(args.media)
    works, negatives = split_families(clips, rng, args.work_fraction, args.work_seconds)
    print(f"{len(clips)} clips; {len(works)} works ({sum(c.duration for c in works):.0f} s), "
          f"{len(negatives)} negatives ({sum(c.duration for c in negatives):.0f} s)", flush=True)

    lib = Library(os.path.join(args.out, "library"))
    registered: dict[int, Clip] = {}
    by_path: dict[str, int] = {}
    for i, clip in enumerate(works):
        res = lib.register(clip.path, work_id=f"c{i:03d}", category="short")
        if res.work is None:
            print(f"  not registered: {clip.rel}: {res.error}", flush=True)
            continue
        if not res.created:
            print(f"  duplicate of {res.work.title}: {clip.rel}", flush=True)
            continue
        registered[res.work.key] = clip
        by_path[clip.path] = res.work.key
    print(f"registered {len(registered)} works in {time.perf_counter() - started:.0f} s", flush=True)

    # -- queries --
    queries = []  # dict: id, path, kind, edit, family, source key, start, speed, duration

    def edit_list(i: int) -> list[str]:
        if i % 4 == 3:  # every fourth query: a combination of two edits
            a, b = rng.choice(len(COMBINABLE), 2, replace=False)
            return sorted({COMBINABLE[a], COMBINABLE[b]})
        return [SINGLE_EDITS[(i - i // 4) % len(SINGLE_EDITS)]]

    usable = [k for k, c in registered.items() if c.duration >= 3.0]
    order = list(rng.permutation(usable))
    for i in range(args.positives):
        key = int(order[i % len(order)])
        if i % len(order) == len(order) - 1:
            order = list(rng.permutation(usable))
        clip = registered[key]
        names = edit_list(i)
        editor = Editor(names, rng)
        max_len = min(20.0, clip.duration / editor.speed - 0.2)
        length = float(rng.uniform(3.0, max(3.0, max_len))) if max_len > 3.0 else max(1.5, max_len)
        start = float(rng.uniform(0, max(0.0, clip.duration - length * editor.speed - 0.1)))
        path = os.path.join(qdir, f"pos{i:03d}.mp4")
        qdur = make_query(clip.path, start, length, editor, path)
        queries.append(dict(id=f"pos{i:03d}", path=path, kind="pos", edit="+".join(names), family=clip.family,
                            source=key, src=clip.path, clip=clip.rel, start=start, speed=editor.speed, duration=qdur))
    print(f"made {args.positives} positives at {time.perf_counter() - started:.0f} s", flush=True)

    for i, clip in enumerate(negatives):
        if clip.duration <= args.neg_max_seconds:
            queries.append(dict(id=f"neg{i:03d}", path=clip.path, kind="neg", edit="whole", family=clip.family,
                                source=-1, src=clip.path, clip=clip.rel, start=0.0, speed=1.0, duration=clip.duration))
        else:
            path = os.path.join(qdir, f"neg{i:03d}.mp4")
            qdur = make_query(clip.path, 0.0, args.neg_max_seconds, Editor(["none"], rng), path)
            queries.append(dict(id=f"neg{i:03d}", path=path, kind="neg", edit="whole", family=clip.family,
                                source=-1, src=clip.path, clip=clip.rel, start=0.0, speed=1.0, duration=qdur))
        if clip.duration >= 3.0:
            names = edit_list(i)
            editor = Editor(names, rng)
            max_len = min(20.0, clip.duration / editor.speed - 0.2)
            length = float(rng.uniform(3.0, max(3.0, max_len)))
            start = float(rng.uniform(0, max(0.0, clip.duration - length * editor.speed - 0.1)))
            path = os.path.join(qdir, f"nege{i:03d}.mp4")
            qdur = make_query(clip.path, start, length, editor, path)
            queries.append(dict(id=f"nege{i:03d}", path=path, kind="neg", edit="+".join(names), family=clip.family,
                                source=-1, src=clip.path, clip=clip.rel, start=start, speed=editor.speed, duration=qdur))
    if os.path.exists(TRAILER) and "bbb" not in {c.family for c in registered.values()}:
        # A real third-party edit (fades, titles, slow motion) of footage nobody registered.
        queries.append(dict(id="trailer", path=TRAILER, kind="neg", edit="whole", family="bbb", source=-1, src=None,
                            clip="film/trailer_bbb.mp4", start=0.0, speed=1.0, duration=probe(TRAILER).duration))
    print(f"made {len(queries)} queries at {time.perf_counter() - started:.0f} s", flush=True)

    # The swapped library: the negatives registered, the works not. Every query is then
    # scanned against both: what was a negative is a positive there and the other way
    # round, which doubles the (rare) false chains at the cost of one more registration.
    libraries = [("A", lib, registered, by_path)]
    if args.swap:
        lib_b = Library(os.path.join(args.out, "library-swap"))
        reg_b: dict[int, Clip] = {}
        path_b: dict[str, int] = {}
        for i, clip in enumerate(negatives):
            res = lib_b.register(clip.path, work_id=f"n{i:03d}", category="short")
            if res.work is not None and res.created:
                reg_b[res.work.key] = clip
                path_b[clip.path] = res.work.key
        libraries.append(("B", lib_b, reg_b, path_b))
        print(f"registered {len(reg_b)} swap works at {time.perf_counter() - started:.0f} s", flush=True)

    # -- chains --
    model = lib.video.scoring
    rows = []
    for q in queries:
        # Samples the query's length holds: the scan's own features are not in its trace.
        q["frames"] = int(q["duration"] * lib.video.sample_fps)
        q["true_chains"] = 0
        for libname, library, works_of, key_of in libraries:
            scanned = library.scan(q["path"], trace=True)
            if scanned.trace is None:
                print(f"  not scanned: {q['id']}: {scanned.error}", flush=True)
                continue
            found = chain_rows(q, libname, scanned.trace, works_of, key_of, library.video.sample_step)
            q["true_chains"] += sum(r["label"] == "true" for r in found)
            rows += found
    for _, library, _, _ in libraries:
        library.close()
    print(f"{len(rows)} chains at {time.perf_counter() - started:.0f} s", flush=True)

    # -- fit --
    feats = np.array([[r["mean_sim"], r["frames"], r["coverage"]] for r in rows])
    X = design(feats)
    label = np.array([r["label"] for r in rows])
    y = (label == "true").astype(float)
    use = label != "sibling"
    if args.misplaced == "drop":
        use &= label != "misplaced"
    is_false = label == "false"
    families = sorted({q["family"] for q in queries})
    fold_of_family = {f: i % args.folds for i, f in enumerate(rng.permutation(families))}
    fold = np.array([fold_of_family[r["family"]] for r in rows])
    oof = np.zeros(len(rows))  # out-of-fold logit, threshold-shifted: >= 0 means reported
    cv = []
    for k in range(args.folds):
        train, test = (fold != k) & use, fold == k
        beta = fit_logistic(X[train], y[train], args.l2)
        logits = X @ beta
        op = operating_logit(logits[train & is_false], args.margin)
        oof[test] = logits[test] - op
        cv.append(dict(fold=k, true=int((test & (y == 1)).sum()), found=int((test & (y == 1) & (logits >= op)).sum()),
                       false=int((test & is_false).sum()), false_found=int((test & is_false & (logits >= op)).sum())))
    beta = fit_logistic(X[use], y[use], args.l2)
    raw = X @ beta
    op = operating_logit(raw[is_false], args.margin)
    shifted = raw - op
    final = ScoreModel(bias=float(beta[0] - op), similarity=float(beta[1]), length=float(beta[2]),
                       coverage=float(beta[3]))
    score = 1 / (1 + np.exp(-shifted))
    old = 1 / (1 + np.exp(-np.clip(X @ np.array([model.bias, model.similarity, model.length, model.coverage]), -40, 40)))

    # -- report --
    def recall(mask: np.ndarray, s: np.ndarray) -> tuple[int, int]:
        return int((mask & (y == 1) & (s >= 0)).sum()), int((mask & (y == 1)).sum())

    per_edit = {}
    pos_q = [q for q in queries if q["src"] and (q["kind"] == "pos" or args.swap)]  # a positive in some library
    for e in sorted({q["edit"] for q in pos_q}):
        m = np.array([r["edit"] == e for r in rows]) if rows else np.zeros(0, bool)
        qs = [q for q in pos_q if q["edit"] == e]
        # query-level: the query's source found by at least one true chain at or above the threshold
        found_q = {r["query"] for r, s in zip(rows, shifted) if r["edit"] == e and r["label"] == "true" and s >= 0}
        found_q_cv = {r["query"] for r, s in zip(rows, oof) if r["edit"] == e and r["label"] == "true" and s >= 0}
        per_edit[e] = dict(queries=len(qs), chains_true=recall(m, shifted)[1], chains_found=recall(m, shifted)[0],
                           chains_found_cv=recall(m, oof)[0], queries_found=len(found_q), queries_found_cv=len(found_q_cv))
    fp = np.argsort(-shifted * is_false - 1e9 * ~is_false)[:10]
    bins = [0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0001]
    hist = {}
    for name, m in (("true", label == "true"), ("misplaced", label == "misplaced"), ("sibling", label == "sibling"), ("false", is_false)):
        hist[name] = np.histogram(score[m], bins=bins)[0].tolist()
    result = dict(
        seed=args.seed, l2=args.l2, margin=args.margin, misplaced=args.misplaced,
        clips=len(clips), works=len(registered), work_seconds=sum(c.duration for c in registered.values()),
        work_families=sorted({c.family for c in registered.values()}),
        negative_clips=len(negatives), negative_seconds=sum(c.duration for c in negatives),
        queries_pos=sum(q["kind"] == "pos" for q in queries), queries_neg=sum(q["kind"] == "neg" for q in queries),
        query_seconds_pos=sum(q["duration"] for q in queries if q["kind"] == "pos"),
        positive_pairs=len(pos_q),
        query_seconds_neg=sum(q["duration"] for q in queries if q["kind"] == "neg"),
        chains=len(rows), chains_true=int((label == "true").sum()), chains_misplaced=int((label == "misplaced").sum()),
        chains_sibling=int((label == "sibling").sum()), sibling_above=int(((label == "sibling") & (shifted >= 0)).sum()),
        chains_false=int(is_false.sum()), chains_false_in_neg=int((is_false & np.array([r["kind"] == "neg" for r in rows])).sum()),
        raw_coefficients=dict(bias=float(beta[0]), similarity=float(beta[1]), length=float(beta[2]), coverage=float(beta[3])),
        operating_logit=op,
        model=dict(bias=final.bias, similarity=final.similarity, length=final.length, coverage=final.coverage, threshold=0.5),
        highest_false_score=float(score[is_false].max()) if is_false.any() else None,
        lowest_true_score=float(score[label == "true"].min()) if (label == "true").any() else None,
        recall_chains=recall(np.ones(len(rows), bool), shifted), recall_chains_cv=recall(np.ones(len(rows), bool), oof),
        false_above_cv=int((is_false & (oof >= 0)).sum()),
        misplaced_above=int(((label == "misplaced") & (shifted >= 0)).sum()),
        queries_found=len({r["query"] for r, s in zip(rows, shifted) if r["label"] == "true" and s >= 0}),
        queries_found_cv=len({r["query"] for r, s in zip(rows, oof) if r["label"] == "true" and s >= 0}),
        queries_with_true_chain=sum(1 for q in pos_q if q["true_chains"] > 0),
        old_model=dict(recall_chains=int(((label == "true") & (old >= 0.5)).sum()),
                       false_above=int((is_false & (old >= 0.5)).sum()),
                       highest_false=float(old[is_false].max()) if is_false.any() else None),
        cv=cv, per_edit=per_edit, histogram=dict(bins=bins, **hist),
        top_false=[dict(score=float(score[i]), **{k: rows[i][k] for k in ("query", "edit", "family", "work", "mean_sim", "frames", "coverage", "q0", "q1", "speed")}) for i in fp if is_false[i]],
        seconds=time.perf_counter() - started,
    )
    with open(os.path.join(args.out, "chains.tsv"), "w") as fh:
        keys = list(rows[0].keys()) + ["score", "score_cv"] if rows else []
        fh.write("\t".join(keys) + "\n")
        for r, s, o in zip(rows, score, oof):
            fh.write("\t".join(str(v) for v in [*r.values(), round(float(s), 4), round(float(1 / (1 + math.exp(-o))), 4)]) + "\n")
    with open(os.path.join(args.out, "queries.tsv"), "w") as fh:
        keys = ["id", "kind", "edit", "family", "clip", "start", "speed", "duration", "frames", "true_chains"]
        fh.write("\t".join(keys) + "\n")
        for q in queries:
            fh.write("\t".join(str(q[k]) for k in keys) + "\n")
    with open(os.path.join(args.out, "result.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    json.dump({k: v for k, v in result.items() if k not in ("per_edit", "top_false", "cv")}, sys.stdout, indent=1)
    print()
    for e, v in per_edit.items():
        print(f"{e:22s} {v}")
    for t in result["top_false"][:5]:
        print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
