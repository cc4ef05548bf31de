"""Sub-frame layouts: the parts of an upload's frame that may each show a work.

Duets, stitches and grids place several videos side by side; screen recordings, web pages
and filmed screens show one video inside a still surround. Neither needs a border that
``regions.detect_windows`` could find, and a descriptor of the whole frame mostly
describes the other parts. These cues find the parts without one, judged over a window of
frames ``(n, h, w, 3)`` (``ViewParams.window``):

* **Seams.** Where two videos meet, what changes on one side of the line does not change
  on the other: the temporal differences of the pixels just left and just right of a
  column are correlated inside one video (moving objects and cuts span the line) and not
  across a seam. A *seam* is a full-length column (row) near a third, a half or two
  thirds of the side whose correlation across it is far below the picture's typical
  correlation, or a persistent edge (a grid's gap, a duet's letterbox) along its whole
  length, or a mix of these and of stretches where only one side moves (a pillarboxed
  cell's bars). A line whose strips change independently along one third only (a grid
  whose other cells show one video at other instants) counts beside another line of its
  axis. The frame is cut at every seam; each cell is a part.
* **The moving region.** In a screen recording, a web page or a filmed screen, the video
  moves and the surround is still: the blocks whose picture changes over the window form
  one region, whose bounding box is a part when it is well inside the frame.
* **Windows without a border.** A picture pasted over other footage has four sides
  across which the changes decorrelate, or only one side changes (over a talking head),
  or that are straight steps in the window's mean picture (a still picture
  over footage that barely moves: little changes across its sides, but it keeps its
  edges): of the columns and rows that cut most (over their length, or over a third of
  it: a window's side spans only part of the frame), the rectangle whose sides cut along
  most of their length is a part. A window that runs off the frame has the frame's edge
  for a side: of such three-sided ones, the best-cutting and the longest-cutting are parts.
* **Grids.** A seam cell too long for one video is cut into 16:9 cells, and cells that
  repeat one another make a grid of parts (``_video_shaped``, ``_tiles``): copies share a
  texture beyond a smooth ramp, or their changes.
* **Portrait halves.** A frame at least 1.5 times taller than wide always has its top
  and bottom halves as parts, seam or not: no cue at all, the fixed crop of a stitch.
* **The border around what moves.** A picture that mostly holds still (a talking head,
  a slide) moves only in part of its player or screen: the moving region grows out to the
  nearest straight steps of the window's mean picture, the player's or screen's edges.

Each part is a query view (``embed``), with its own bands trimmed (``regions``). A part is
a guess: a false one costs one descriptor per sampled instant and one more chance for a
look-alike, which ``background`` and the score model keep from becoming a claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from .regions import Box, overlap


@dataclass(frozen=True)
class LayoutParams:
    """How seams and the moving region are told (the module docstring gives the rules)."""

    seam_positions: tuple[float, ...] = (1 / 3, 1 / 2, 2 / 3)
    """Where along a side a seam may be: the splits that duets, stitches and grids use."""
    seam_slack: float = 0.05
    """A seam may lie this share of the side from its position (uneven grids, gaps)."""
    seam_correlation: float = 0.35
    """A column is a seam where the correlation across it is below this share of the
    picture's median correlation across columns."""
    seam_edge: float = 3.0
    """... or where its persistent edge is this many times the median one, along the whole
    line (a gap between cells, a letterbox edge inside a duet)."""
    seam_coverage: float = 0.8
    """Share of a seam's length that must pass the test (a work's own straight edges,
    a horizon or a doorframe, seldom span the whole frame)."""
    seam_mixed: bool = True
    """A line's pixels may pass the test in different ways along it (``_seams``): where
    the work's cell is pillarboxed, its bars hold still beside the next cell's picture,
    and the line there neither decorrelates (one side does not move) nor shows an edge
    (a black gap beside black bars); it is one-sided, as a window's side is. With
    ``seam_thirds``, on the tune-origin portrait set (``scripts/portrait_study.py``): 3x3
    grid 0.84 -> 0.99, uAP 0.817 -> 0.930, 0 / 8 false works; on the tune half's
    single-video footage, windows with a seam 3 -> 4 of 108 (BENCHMARKS.md, stop 26)."""
    strip: float = 0.15
    """Share of the side on either side of a seam whose changes are compared (``_independent``)."""
    strip_correlation: float = 0.6
    """Strips whose frame-to-frame change correlates above this are one video: no seam."""
    seam_thirds: bool = True
    """... or, along some third of the line, the strips of that third, where another line
    of the same axis is independent whole (``_seams``, ``_independent_third``)."""
    min_motion: float = 1.5
    """Grey levels of temporal change below which the window is still: no seam test."""
    active_level: float = 2.0
    """Grey levels: a block whose temporal standard deviation reaches this is moving ..."""
    active_share: float = 0.35
    """... and at least this share of the 90th percentile block's: a filmed screen's room
    moves with the hand that holds the phone, far less than the picture on the screen."""
    moving_area: tuple[float, float] = (0.08, 0.7)
    """The moving region is a part when its box takes between these shares of the frame:
    a web page's player 0.18, a desktop's window 0.29, a filmed TV 0.59; footage whose top and
    bottom rows hold still came to 0.78 (its content box covers it)."""
    min_part: float = 0.06
    """Cells smaller than this share of the frame are not parts (a 3x3 cell is 0.11)."""
    max_parts: int = 9
    """At most this many parts per window (a 3x3 grid)."""
    rectangle_area: tuple[float, float] = (0.04, 0.5)
    """Windows without a border (``_windows_without_border``) take these shares of the frame."""
    rectangle_cut: float = 0.8
    """... their four sides cut over this share of their length on average (0.75 and 0.8
    find the same windows on the quick set; with the candidate sides of each third
    (``_candidate_lines``), 0.75 also found 'windows' in 13 of 40 windows of single-video
    footage, 0.8 in 12, as the whole-length candidates did at 0.75) ..."""
    rectangle_side: float = 0.6
    """... and each side over this share."""
    candidate_sides: tuple[int, int] = (12, 6)
    """Candidate sides per axis (``_candidate_lines``): the lines that cut most over the
    whole length, and over each third. A striped or textured band (water, blinds, a
    crowd) puts many lines that cut into one place; at (6, 3) they took every candidate,
    and a window's sides elsewhere were never tried."""
    rectangles: int = 2
    """The best this many rectangles that do not overlap (IoU under 0.5) are parts. The
    best-cutting rectangle is often a moving thing inside the window (hands, a walking
    figure), sharing two of the window's sides, whose own edges cut as well as the window's;
    the window is then the second. On a fresh tune-half study set (``scripts/pip_study.py
    --seed 2026``, 50 queries, 14 negatives): pip_styled recall 0.88 -> 0.99, uAP 0.940 ->
    0.972, 0 false works either way. On the full bench every query's recall is the same as at 1
    (uAP 0.926, 0 / 99 false works)."""
    step_sides: bool = True
    """A window's side may also be a straight step of the window's mean picture
    (``_steps``, ``border_step``): a picture over footage that barely moves (an aquarium, a
    landscape) has sides across which little changes, but it keeps its edges. On 50
    tune-half picture-in-picture queries (``scripts/pip_study.py``), recall 0.879 -> 0.979
    with the wider ``candidate_sides`` (the candidates alone 0.904, these steps alone
    0.911); windows of the registered works' own footage with a part: 26 -> 33 of 57.
    Counting a step only where its sign holds along the side (a bright page over dark
    water) cut that to 30, and lost a tune-half query of the full bench whose window lies
    over footage of changing brightness (full tune half uAP 0.948 -> 0.945)."""
    edge_sides: bool = True
    """A window may have one of the frame's edges as a side (``_windows_without_border``): a
    work taller than its window's place runs off the frame, and its window shows three sides,
    which are then judged alone. The best such rectangle is a part of its own, after the
    four-sided ones: ranked with them it put out the window itself (a fresh study set, seed
    2027: uAP 0.964 -> 0.923; with a place of its own 0.972). Full bench: uAP 0.926 -> 0.935
    (tune half 0.948 -> 0.956, reporting half 0.887 -> 0.898), 0 / 99 false works; the two
    other study sets (seeds 2026, 2028) the same either way. Cost 1.05x at the median,
    1.32x at most (BENCHMARKS.md, "A frame edge for a side")."""
    edge_by_length: bool = True
    """Besides the best-cutting three-sided rectangle (``edge_sides``), the one whose sides
    cut over the most length is a part too: a portrait work at half the frame's width runs
    off its top, and the strips of the footage behind it, between its side and the frame's
    edge, are short rectangles whose sides cut as well, which took the one place. On a
    tune-origin set of portrait works in the bench's picture-in-picture edits
    (``scripts/portrait_study.py --set pip --seed 2701``, 28 queries, 8 negatives): uAP
    0.842 -> 0.938, styled 0.85 -> 0.92, sped-up 0.30 -> 1.00, 0 / 8 false works; ranking
    three-sided ones by length alone lost a 3x3 grid query of the portrait cells set
    (0.971 -> 0.949; with both, 0.971) (BENCHMARKS.md, stop 27)."""
    portrait_halves: float = 1.5
    """A frame at least this much taller than wide (height / width; 0: never) always has
    its top and bottom halves as parts, seam or not (the fixed crops of the VSC22 winners,
    where a vertical upload is concerned): a 9:16 stitch puts the work in one half, and
    where the two halves move together (a handheld work above a dancing creator) no seam
    test finds the line. A tune-half layout set (``scripts/pip_study.py --set layouts
    --half tune --seed 3032``, 108 queries, 27 negatives): stitch 0.82 -> 0.96, two queries
    0 -> 1.00, nothing else moved, 0 / 27 false works either way. The full bench: no query
    moved by more than 0.02 (uAP 0.960, 0 / 99). The fresh report-half sample (seed 3031):
    stitch 0.93 -> 0.99. Cost 1.03x at the median of a scan, 1.13x at most (portrait
    uploads; landscape ones get no view). 1.5 is the one value tried: it takes 9:16 and
    2:3 frames, not 4:5."""
    max_aspect: float = 2.5
    """A seam cell longer than this (width to height or height to width) is cut into 16:9
    pieces (``_video_shaped``): no video is that shape, a row of a grid is."""
    tile_copy: float = 0.9
    """Cells whose block means correlate this much over the window are copies of one video
    (``_tiles``): copies in a grid correlate at 0.99; cells of one picture seldom reach 0.5."""
    tile_detail: float = 8.0
    """Grey levels of spread a cell's block means need before they count as a copy: flat
    cells (sky, a wall, black) correlate by chance."""
    tile_texture: float = 4.0
    """... and either both cells keep this much spread once each frame's best plane over
    the cell is taken out (``_tiles``), or their changes correlate at ``tile_motion``: a
    smooth ramp (a sky, the gradient behind a film's end credits) is the same pattern in
    every cell of one picture, so it correlates as copies do without being one. The
    credits' false 3x3 grid kept planes of 1.3-2.1 grey levels and changes correlated at
    0.0; the copies of every grid of the bench and the study sets kept 4 or more, or
    moved together. Taking the plane out of the signature itself (stop 24) also lost a
    sky's grid of blurred copies."""
    tile_motion: float = 0.5
    """Correlation of two cells' frame-to-frame changes above which they move as one video."""
    border_step: float = 8.0
    """Grey levels by which a border's step exceeds the change beside it (``_steps``)."""
    border_length: float = 0.25
    """A border around a moving region (``_enclosing_border``) runs along at least this
    share of the side: a player's or a screen's edge does, a face's features do not."""


BLOCK = 6  # half-resolution pixels: the side of the blocks whose motion makes the moving region
GAP = 2  # pixels compared across a line are this far apart: a seam's blended pixel does not bridge it


@dataclass(frozen=True)
class _Across:
    """How the pixels' changes relate across each column (``_correlation``); for rows, of
    the transposed window."""

    corr: np.ndarray  # (length, side - GAP): correlation over time with the pixel GAP further on
    moving: np.ndarray  # both pixels move
    typical: float  # median of corr where both move (0 when too little moves to say)
    one_sided: np.ndarray  # one pixel moves and the other does not


def _correlation(diff: np.ndarray, p: LayoutParams) -> _Across:
    """Across columns: the correlation over time of each pixel's change with the change of
    the pixel ``GAP`` to its right, where both move, and the picture's median of it."""
    side = diff.shape[2]
    a = diff[:, :, : side - GAP]
    b = diff[:, :, GAP:]
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    num = (a * b).sum(axis=0)
    den = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0)) + 1e-6
    corr = num / den
    moving_a = np.sqrt((a * a).mean(axis=0)) > p.min_motion
    moving_b = np.sqrt((b * b).mean(axis=0)) > p.min_motion
    moving = moving_a & moving_b
    typical = float(np.median(corr[moving])) if moving.sum() > 0.1 * moving.size else 0.0
    return _Across(corr, moving, typical, moving_a ^ moving_b)


def _seams(diff: np.ndarray, grey: np.ndarray, across: _Across, p: LayoutParams) -> list[int]:
    """Seam positions (half-resolution pixels) across the columns of ``diff`` and ``grey``
    (pass them transposed for rows), ``across`` being their ``_correlation``."""
    side = diff.shape[2]
    gap = GAP
    # A line's score is the share of its pixels whose changes decorrelate across it
    # (robust to the still stretches along a seam).
    corr, moving, typical = across.corr, across.moving, across.typical
    edge = np.abs(np.diff(grey, axis=2)).mean(axis=0)  # (length, side - 1)
    typical_edge = max(float(np.median(edge)), 0.5)
    found: list[int] = []
    by_third: list[int] = []
    none_decorrelated = np.zeros(len(corr), bool)
    for position in p.seam_positions:
        centre = position * side
        lo, hi = int(centre - p.seam_slack * side), int(centre + p.seam_slack * side) + 1
        best, best_at = 0.0, -1
        for x in range(max(lo, 1), min(hi, side - gap - 1)):
            share = 0.0
            decorrelated = none_decorrelated
            if typical > 0.2:
                ok = moving[:, x]
                decorrelated = ok & (corr[:, x] < p.seam_correlation * typical)
                share = decorrelated.sum() / max(ok.sum(), 1) * (ok.mean() > 0.5)
            edged = edge[:, x + gap // 2 - 1] > p.seam_edge * typical_edge
            score = max(share, edged.mean())
            if p.seam_mixed:
                score = max(score, (decorrelated | edged | across.one_sided[:, x]).mean())
            if score > best:
                best, best_at = score, x + gap // 2
        if best >= p.seam_coverage:
            if _independent(diff, best_at, p):
                found.append(best_at)
            elif p.seam_thirds and _independent_third(diff, best_at, p):
                by_third.append(best_at)
    # A line independent along one third only is a grid's line between rows of cells, so
    # it counts beside another line of the same axis that is independent whole. Alone, it
    # was a person moving on one side of a single video's half line: on the tune half's
    # single-video footage (108 windows), 6 windows gained seams that way, and none with
    # this condition.
    return sorted(found + by_third) if found else []


def _independent_third(diff: np.ndarray, at: int, p: LayoutParams) -> bool:
    """Whether, along some third of the line's length, the strips either side of column
    ``at`` change independently (``_independent``): a grid's line runs between three
    pairs of cells, and where the other cells show one video at other instants, the rows of
    cells either side share that video's pace, and only the work's pair differs."""
    length = diff.shape[1]
    return any(_independent(diff[:, i * length // 3 : (i + 1) * length // 3], at, p) for i in range(3))


def _independent(diff: np.ndarray, at: int, p: LayoutParams) -> bool:
    """Whether the strips either side of column ``at`` change independently over time: the
    mean absolute change of each strip, frame to frame, is weakly correlated. One video's
    halves share its cuts and camera moves; two videos' do not."""
    side = diff.shape[2]
    width = max(4, int(p.strip * side))
    left = np.abs(diff[:, :, max(0, at - width) : at]).mean(axis=(1, 2))
    right = np.abs(diff[:, :, at : at + width]).mean(axis=(1, 2))
    if left.std() < 1e-3 or right.std() < 1e-3:
        return bool(left.std() < 1e-3) != bool(right.std() < 1e-3)  # one side still: a surround
    return float(np.corrcoef(left, right)[0, 1]) < p.strip_correlation


def _video_shaped(box: Box, p: LayoutParams) -> list[Box]:
    """``box``, or its equal pieces along its long side where it is too long for one video
    (``max_aspect``): a 3x3 grid whose columns hold copies of one video shows only its row
    seams, and a row of a landscape frame (5.3:1) is three 16:9 cells."""
    if box.width > p.max_aspect * box.height:
        pieces = max(2, round(box.width / box.height / (16 / 9)))
        return [Box(box.top, box.bottom, box.left + i * box.width // pieces, box.left + (i + 1) * box.width // pieces) for i in range(pieces)]
    if box.height > p.max_aspect * box.width:
        pieces = max(2, round(box.height / box.width / (16 / 9)))
        return [Box(box.top + i * box.height // pieces, box.top + (i + 1) * box.height // pieces, box.left, box.right) for i in range(pieces)]
    return [box]


def _tiles(grey: np.ndarray, p: LayoutParams) -> int:
    """k of a k x k grid (3, then 2) whose cells repeat one another, else 0. A grid whose
    other cells are copies of one video has no seam between those copies (their changes
    are the same), so seams find only the lines beside the work's cell, which do not span
    the frame; copies are found by comparing the cells themselves, as 8 x 8 block means over
    the window, correlated."""
    n, hh, ww = grey.shape
    for k in (3, 2):
        ch, cw = hh // k, ww // k
        sh, sw = ch // 8, cw // 8
        if sh < 1 or sw < 1:
            continue
        cells = grey[:, : k * ch, : k * cw].reshape(n, k, ch, k, cw)[:, :, : 8 * sh, :, : 8 * sw]
        small = cells.reshape(n, k, 8, sh, k, 8, sw).mean(axis=(3, 6))  # (n, k, 8, k, 8)
        cell_frames = small.transpose(1, 3, 0, 2, 4).reshape(k * k, n, 64)
        # Each frame's pattern within the cell, less its mean: a fade or a flicker brightens
        # every cell of one picture together, and must not make them copies.
        cell_frames = cell_frames - cell_frames.mean(axis=2, keepdims=True)
        detailed = cell_frames.std(axis=2).mean(axis=1) >= p.tile_detail
        textured = _less_plane(cell_frames).std(axis=2).mean(axis=1) >= p.tile_texture
        corr = _unit_correlation(cell_frames.reshape(k * k, -1))
        moving_together = _unit_correlation(np.diff(cell_frames, axis=1).reshape(k * k, -1)) >= p.tile_motion
        alike = (textured[:, None] & textured[None, :]) | moving_together
        copies = ((corr >= p.tile_copy) & detailed[:, None] & detailed[None, :] & alike).any(axis=1)
        if copies.sum() >= max(2, k * k // 2):
            return k
    return 0


def _unit_correlation(rows: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows, 0 on the diagonal and for a row of zeros."""
    unit = rows / (np.linalg.norm(rows, axis=1, keepdims=True) + 1e-6)
    corr = unit @ unit.T
    np.fill_diagonal(corr, 0.0)
    return corr


def _less_plane(patterns: np.ndarray) -> np.ndarray:
    """``(..., 64)`` patterns of 8 x 8 block means, each less its mean, less their best
    plane ``a x + b y`` (least squares: x and y are orthogonal over the centred grid)."""
    y, x = np.mgrid[0:8, 0:8]
    out = patterns
    for axis in (x.ravel() - 3.5, y.ravel() - 3.5):
        unit = axis / np.linalg.norm(axis)
        out = out - (out @ unit)[..., None] * unit
    return out


def _moving_box(grey: np.ndarray, p: LayoutParams) -> Box | None:
    """The box of the largest 4-connected region of moving blocks, in half-resolution pixels."""
    n, hh, ww = grey.shape
    by, bx = hh // BLOCK, ww // BLOCK
    if by < 3 or bx < 3:
        return None
    blocks = grey[:, : by * BLOCK, : bx * BLOCK].reshape(n, by, BLOCK, bx, BLOCK).mean(axis=(2, 4))
    spread = blocks.std(axis=0)
    active = spread >= max(p.active_level, p.active_share * float(np.percentile(spread, 90)))
    if active.all() or not active.any():
        return None
    label = np.zeros(active.shape, np.int32)
    sizes = [0]
    for start in zip(*np.nonzero(active), strict=True):
        if label[start]:
            continue
        sizes.append(0)
        stack = [start]
        label[start] = len(sizes) - 1
        while stack:
            r, c = stack.pop()
            sizes[-1] += 1
            for rr, cc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if 0 <= rr < by and 0 <= cc < bx and active[rr, cc] and not label[rr, cc]:
                    label[rr, cc] = len(sizes) - 1
                    stack.append((rr, cc))
    biggest = int(np.argmax(sizes))
    rows, cols = np.nonzero(label == biggest)
    return Box(int(rows.min()) * BLOCK, (int(rows.max()) + 1) * BLOCK, int(cols.min()) * BLOCK, (int(cols.max()) + 1) * BLOCK)


def _peaks(profile: np.ndarray, count: int, spacing: int) -> list[int]:
    """Up to ``count`` positions of the highest values of ``profile``, ``spacing`` apart."""
    chosen: list[int] = []
    for i in np.argsort(-profile):
        if all(abs(int(i) - c) >= spacing for c in chosen):
            chosen.append(int(i))
        if len(chosen) == count:
            break
    return sorted(chosen)


def _candidate_lines(cut: np.ndarray, whole: int = 6, per_third: int = 3) -> list[int]:
    """Lines (rows of ``cut``, one per line, its pixels along it) that may be a window's
    sides: those that cut most over their whole length, and over each third of it. A
    window's side spans only part of the frame, so its whole-length mean sinks below the
    edges of a face or a body that cross the frame; over its third, it stands out."""
    length = cut.shape[1]
    lines = set(_peaks(cut.mean(axis=1), whole, 4))
    for start in range(0, length - length // 3 + 1, length // 3):
        lines.update(_peaks(cut[:, start : start + length // 3].mean(axis=1), per_third, 4))
    return sorted(lines)


def _windows_without_border(diff: np.ndarray, mean: np.ndarray, acrosses: tuple[_Across, _Across],
                            frame: tuple[int, int], p: LayoutParams) -> list[Box]:  # fmt: skip
    """Picture-in-picture windows over other footage, border or none: the rectangle whose
    four sides are lines across which the pixels' changes decorrelate, or only one side
    changes, or that are straight steps of ``mean``, the window's mean picture
    (``step_sides``). Cut maps are noisy pixel by pixel, so candidate sides are the columns and rows
    that cut most, and a rectangle is kept when its sides cut along ``rectangle_cut`` of
    their length on average (and ``rectangle_side`` each)."""
    cuts = []
    for a, still in zip(acrosses, (mean, mean.T), strict=True):  # columns, then rows
        cut = a.one_sided | (a.moving & (a.corr < p.seam_correlation * a.typical)) if a.typical > 0.2 else a.one_sided
        if p.step_sides:
            # _steps(still.T)[x] lies between columns x and x + 2, as the correlations do (GAP 2).
            cut = cut | (_steps(still.T).T > p.border_step)
        cuts.append(cut | np.roll(cut, 1, axis=1))  # a side may wander by a pixel
    across_cols, across_rows = cuts[0], cuts[1].T  # (hh, ww - GAP): x lines; (hh - GAP, ww): y lines
    hh, ww = diff.shape[1:]
    h, w = frame
    lo, hi = p.rectangle_area
    xs = _candidate_lines(across_cols.T, *p.candidate_sides)
    ys = _candidate_lines(across_rows, *p.candidate_sides)
    if p.edge_sides:  # lines -1 and side - 1 stand for the frame's edges (a box's +1 puts them there)
        xs, ys = [-1, *xs, ww - 1], [-1, *ys, hh - 1]
    if len(xs) < 2 or len(ys) < 2:
        return []
    # Cumulative sums along each line: a side's mean cut is two lookups.
    col_sum = np.concatenate([np.zeros((1, across_cols.shape[1])), np.cumsum(across_cols, axis=0)])
    row_sum = np.concatenate([np.zeros((across_rows.shape[0], 1)), np.cumsum(across_rows, axis=1)], axis=1)
    # Every rectangle of candidate sides at once: P pairs of columns by Q pairs of rows,
    # in the order a nested loop would take them, so the first best is the same.
    i, j = np.triu_indices(len(xs), 1)
    x1, x2 = np.asarray(xs)[i][:, None], np.asarray(xs)[j][:, None]  # (P, 1)
    i, j = np.triu_indices(len(ys), 1)
    y1, y2 = np.asarray(ys)[i][None, :], np.asarray(ys)[j][None, :]  # (1, Q)
    width, height = x2 - x1, y2 - y1
    # Lookups stay inside the maps; a frame edge's own cut is never used (``edge`` below).
    cx1, cx2 = (np.clip(x, 0, across_cols.shape[1] - 1) for x in (x1, x2))
    cy1, cy2 = (np.clip(y, 0, across_rows.shape[0] - 1) for y in (y1, y2))
    sx1, sx2 = np.clip(x1, 0, ww), np.clip(x2, 0, ww)  # a side's extent along the other axis
    sy1, sy2 = np.clip(y1, 0, hh), np.clip(y2, 0, hh)
    sides = np.stack(np.broadcast_arrays(
        (col_sum[sy2, cx1] - col_sum[sy1, cx1]) / np.maximum(sy2 - sy1, 1),
        (col_sum[sy2, cx2] - col_sum[sy1, cx2]) / np.maximum(sy2 - sy1, 1),
        (row_sum[cy1, sx2] - row_sum[cy1, sx1]) / np.maximum(sx2 - sx1, 1),
        (row_sum[cy2, sx2] - row_sum[cy2, sx1]) / np.maximum(sx2 - sx1, 1)))  # fmt: skip
    edge = np.stack(np.broadcast_arrays(x1 < 0, x2 >= ww - 1, y1 < 0, y2 >= hh - 1))
    real = (~edge).sum(axis=0)  # 4, or 3 with a frame edge for a side; fewer is no window
    score = np.where(edge, 0.0, sides).sum(axis=0) / np.maximum(real, 1)
    weakest = np.where(edge, 1.0, sides).min(axis=0)
    area = width * height / float(hh * ww)
    ok = ((area >= lo) & (area <= hi) & (np.minimum(width, height) >= 0.15 * min(hh, ww)) & (real >= 3)
          & (weakest >= p.rectangle_side) & (score >= p.rectangle_cut))  # fmt: skip
    found: list[Box] = []
    # The rectangles that pass, best first (a stable sort of them in flat order keeps the
    # nested loop's order among equals); one that overlaps a kept one is the same window,
    # and one inside a kept one is a piece of it. One that holds a kept one may be the
    # window around a thing that moves in it (``rectangles``).
    passing = np.flatnonzero(ok)
    four = passing[real.ravel()[passing] == 4]
    three = passing[real.ravel()[passing] == 3]
    # Rectangles with a frame edge for a side have a place of their own, after the others:
    # ranked with them, a three-sided one put out the window itself.
    # Beside a window whose picture runs off the frame, a strip of the footage behind it
    # between the window's side and the frame's edge is a short rectangle that cuts as well
    # along its sides: the three-sided one whose sides cut over the most length is a part too.
    lengths = np.stack(np.broadcast_arrays(sy2 - sy1, sy2 - sy1, sx2 - sx1, sx2 - sx1))
    cut_length = np.where(edge, 0.0, sides * lengths).sum(axis=0)
    groups = [(four, p.rectangles, score), (three, 1, score)] + ([(three, 1, cut_length)] if p.edge_by_length else [])
    for group, more, rank in groups:
        room = len(found) + more
        for flat in group[np.argsort(-rank.ravel()[group], kind="stable")]:
            if len(found) >= room:
                break
            at, bt = np.unravel_index(int(flat), ok.shape)
            box = _full_size(Box(int(y1[0, bt]) + 1, int(y2[0, bt]) + 1, int(x1[at, 0]) + 1, int(x2[at, 0]) + 1), h, w)
            if all(overlap(box, other) < 0.5 and box.intersection(other) < 0.9 * box.height * box.width for other in found):
                found.append(box)
    return found


def detect_parts(frames: np.ndarray, params: LayoutParams) -> list[Box]:
    """The parts of a window of frames ``(n, h, w, 3)`` uint8 (module docstring), in pixels
    of the frames; empty when the frame looks like one picture."""
    n, h, w, _ = frames.shape
    if n < 4:
        return []
    grey = frames[:, ::2, ::2, 1].astype(np.float32)
    hh, ww = grey.shape[1:]
    diff = np.diff(grey, axis=0)
    parts: list[Box] = []
    if params.portrait_halves and h >= params.portrait_halves * w:
        parts += [Box(0, h // 2, 0, w), Box(h // 2, h, 0, w)]
    k = _tiles(grey, params)
    for row in range(k):
        for col in range(k):
            parts.append(Box(row * h // k, (row + 1) * h // k, col * w // k, (col + 1) * w // k))
    diff_t, grey_t = diff.transpose(0, 2, 1), grey.transpose(0, 2, 1)
    acrosses = (_correlation(diff, params), _correlation(diff_t, params))  # columns, rows
    columns = _seams(diff, grey, acrosses[0], params)
    rows = _seams(diff_t, grey_t, acrosses[1], params)
    if columns or rows:
        xs = [0, *columns, ww]
        ys = [0, *rows, hh]
        for y0, y1 in pairwise(ys):
            for x0, x1 in pairwise(xs):
                for box in _video_shaped(_full_size(Box(y0, y1, x0, x1), h, w), params):
                    if box.area_fraction(h, w) >= params.min_part and _new(box, parts):
                        parts.append(box)
    mean = grey.mean(axis=0)
    for box in _windows_without_border(diff, mean, acrosses, (h, w), params):
        if _new(box, parts):
            parts.append(box)
    moving = _moving_box(grey, params)
    if moving is not None:
        lo, hi = params.moving_area
        for found in (moving, _enclosing_border(mean, moving, params)):
            box = _full_size(found, h, w)
            if lo <= box.area_fraction(h, w) <= hi and _new(box, parts):
                parts.append(box)
    return parts[: params.max_parts]


def _full_size(box: Box, h: int, w: int) -> Box:
    """A box of the half-resolution analysis in pixels of the ``h`` x ``w`` frames."""
    return Box(2 * box.top, min(2 * box.bottom, h), 2 * box.left, min(2 * box.right, w))


def _new(box: Box, parts: list[Box]) -> bool:
    """Whether ``box`` is not one of ``parts`` found already (IoU under 0.8)."""
    return all(overlap(box, other) < 0.8 for other in parts)


def _enclosing_border(still: np.ndarray, box: Box, p: LayoutParams) -> Box:
    """The border around a moving region: a picture that mostly holds still (a talking
    head whose lips move, a slide with a cursor) moves in only part of its player, window
    or screen, whose edges are lines of the window's mean picture ``still`` (half
    resolution) that run straight across the region's whole span and on. Each side of
    ``box`` moves out to the nearest such line, from one block inside it (the region is
    found in blocks), or to the frame's edge where none is found: a picture in a corner."""
    hh, ww = still.shape
    rows, cols = _steps(still), _steps(still.T)

    def outward(edges: np.ndarray, start: int, stop: int, lo: int, hi: int, side: int, side_end: int) -> int:
        # One line of ``edges`` per position; its span runs from lo to hi, and at least
        # ``border_length`` of the side, centred on the region.
        half = max(hi - lo, int(p.border_length * side)) // 2
        centre = (lo + hi) // 2
        a, b = max(0, centre - half), min(side, centre + half)
        step = 1 if stop > start else -1
        for at in range(start, stop, step):
            if (edges[at, a:b] > p.border_step).mean() >= p.seam_coverage:
                return at + 1
        return 0 if step < 0 else side_end

    top = outward(rows, min(box.top + BLOCK, box.bottom) - 1, -1, box.left, box.right, ww, hh)
    bottom = outward(rows, max(box.bottom - BLOCK, box.top) - 1, hh - 2, box.left, box.right, ww, hh)
    left = outward(cols, min(box.left + BLOCK, box.right) - 1, -1, box.top, box.bottom, hh, ww)
    right = outward(cols, max(box.right - BLOCK, box.left) - 1, ww - 2, box.top, box.bottom, hh, ww)
    return Box(max(0, min(top, box.top)), min(hh, max(bottom, box.bottom)), max(0, min(left, box.left)), min(ww, max(right, box.right)))


def _steps(still: np.ndarray) -> np.ndarray:
    """Per row boundary (``out[y]`` between rows y and y + 2), how much the change across it
    exceeds the change across the boundaries 3 rows either side: high at a step from one
    surface to another, near zero on shading, which changes as much on each side."""
    across = np.abs(still[2:] - still[:-2])
    padded = np.pad(across, ((3, 3), (0, 0)), mode="edge")
    return across - np.maximum(padded[:-6], padded[6:])

