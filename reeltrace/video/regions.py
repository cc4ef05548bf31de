"""Find the part of the picture that carries the content.

Re-uploads wrap the original in things that are not in it: black letter/pillar boxes, solid
borders, the blurred, enlarged copy that fills a vertical 9:16 repost, and static title or
subtitle bands. Descriptors of the whole frame then mostly describe the wrapping. We trim
such bands from each edge inwards, judging rows (and columns) over a window of frames:

* ``detail[r]``: the median over row ``r`` of each pixel's mean absolute spatial gradient
  over the frames. Blurred and solid bands have almost none; so do rows of a subtitle
  over a blurred band, whose median pixel is background.
* ``motion[r]``: the median over the row of each pixel's standard deviation over time.
  Black bars and static graphics have none while the content moves.

A row at the edge is trimmed while ``detail`` (or, when the picture moves at all,
``motion``) is below ``band_ratio`` of its ``reference_percentile``-th percentile over all
rows: the sharpest rows are content whatever share of the frame the bands take (a vertical
repost can be two thirds band). At most ``max_trim`` of each side goes; columns are judged
the same way within the kept rows. The thresholds are the fields of ``RegionParams``
(``VideoConfig.regions``); those of picture-in-picture windows, ``WindowParams``.
Sky and other smooth content can look like a band in a single static shot, which is why
scanning also embeds the full frame beside this crop (see ``embed``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RegionParams:
    """How bands are told from content (the module docstring gives the rule)."""

    band_ratio: float = 0.25
    """A row is band while its detail (or motion) is below this share of the reference."""
    reference_percentile: int = 90
    """The reference: this percentile of the rows' detail (motion), i.e. the sharpest rows,
    which are content whatever share of the frame the bands take."""
    min_detail: float = 1.0
    """Grey levels: the reference is never below this, and a work's bar has less."""
    min_motion: float = 1.5
    """Grey levels: below this the window is treated as a still picture (no motion test)."""
    max_trim: float = 0.42
    """At most this share of each side is trimmed (a vertical repost is up to two thirds band)."""
    min_band: float = 0.02
    """Bands thinner than this share of the side are left alone (compression noise)."""
    dark_bar: float = 40.0
    """Grey level: a registered original's bars are black (or nearly)."""
    part_both_orders: bool = True
    """A layout part is trimmed rows then columns and columns then rows, and the larger box
    kept (``detect_content_box`` with ``part``). A work's box and a query's own regions keep
    the one order: there the change would alter what every library stores, and it was
    measured on parts only."""
    part_edge: int = 3
    """A layout part's bars may start this many half-resolution lines in from its edge
    (``detect_content_box`` with ``part``): a part is cut where a grid's cells are
    guessed to be, and its edge lines hold the grid's gap, the step from the gap to the
    cell's bars, or a line of the next cell. A gap of 8 px at 1280 and the cells' offset
    from the thirds come to 1-3 lines. With ``part_both_orders``, on a tune-origin set of
    portrait works in 3x3 grids (``scripts/portrait_study.py``): a part on the work's
    picture in 17 of 20 queries instead of 2, uAP 0.518 -> 0.817 (BENCHMARKS.md, stop 26)."""


@dataclass(frozen=True)
class Box:
    """A pixel rectangle [top, bottom) x [left, right)."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def area_fraction(self, height: int, width: int) -> float:
        return (self.height * self.width) / float(max(height * width, 1))

    def intersection(self, other: Box) -> int:
        """Pixels the two rectangles share."""
        dy = min(self.bottom, other.bottom) - max(self.top, other.top)
        dx = min(self.right, other.right) - max(self.left, other.left)
        return dy * dx if dy > 0 and dx > 0 else 0


def overlap(a: Box, b: Box) -> float:
    """Intersection over union."""
    inter = a.intersection(b)
    return inter / float(a.height * a.width + b.height * b.width - inter)


def _close_gaps(band: np.ndarray, gap: int) -> np.ndarray:
    """Treat runs of up to ``gap`` non-band rows between band rows as band: the one-row
    edge where a title box meets a blurred band must not stop the trimming."""
    closed = band.copy()
    idx = np.flatnonzero(band)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= gap + 1:
            closed[a:b] = True
    return closed


def _edge_trim(
    detail: np.ndarray, motion: np.ndarray | None, level: np.ndarray, bands_only: bool, p: RegionParams, skip: int = 0
) -> tuple[int, int]:
    """Number of band rows to drop at the start and at the end of row profiles."""
    n = len(detail)
    if bands_only:
        # Flat, still and dark: letterbox bars, nothing that could be content. A white or
        # coloured flat margin is how slides, title cards and flat-background animation
        # look; trimming it stored a picture that a plain copy of the full frame did not
        # resemble (0.5-0.7 similarity instead of 0.9 for a slide with a caption on it).
        band = (detail < p.min_detail) & (level < p.dark_bar)
        if motion is not None:
            band &= motion < p.min_motion
    else:
        band = detail < p.band_ratio * max(float(np.percentile(detail, p.reference_percentile)), p.min_detail)
        if motion is not None:
            ref_motion = float(np.percentile(motion, p.reference_percentile))
            if ref_motion >= p.min_motion:
                band |= motion < p.band_ratio * ref_motion
        band = _close_gaps(band, max(1, int(n * p.min_band)))
    limit = int(n * p.max_trim)
    min_band = int(np.ceil(n * p.min_band))
    return _run_from_edge(band, limit, min_band, skip), _run_from_edge(band[::-1], limit, min_band, skip)


def _run_from_edge(band: np.ndarray, limit: int, min_band: int, skip: int) -> int:
    """Lines to drop at the start of ``band``: a run of band lines of at least
    ``min_band`` that starts within ``skip`` lines of the edge (those lines go with it),
    ending at the first line that is not band or at ``limit``; 0 where there is none."""
    best = 0
    for start in range(min(skip, limit) + 1):
        end = start
        while end < limit and band[end]:
            end += 1
        if end - start >= min_band and end > best:
            best = end
    return best


def _maps(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Per-pixel detail (mean absolute gradient over time), motion (std over time) and
    level (mean grey over time)."""
    # The green channel as luma at half resolution: enough for these statistics, and this
    # runs for every window of every registered hour.
    grey = frames[:, ::2, ::2, 1].astype(np.float32)
    detail = (np.abs(np.diff(grey, axis=2))[:, :-1, :] + np.abs(np.diff(grey, axis=1))[:, :, :-1]).mean(axis=0)
    motion = grey.std(axis=0)[:-1, :-1] if len(grey) >= 3 else None
    return detail, motion, grey.mean(axis=0)[:-1, :-1]


def _profiles(maps: tuple, axis: int) -> tuple:
    """Median of each map along ``axis`` (a row or column profile); None stays None."""
    return tuple(np.median(m, axis=axis) if m is not None else None for m in maps)


def detect_content_box(frames: np.ndarray, params: RegionParams, bands_only: bool = False, part: bool = False) -> Box:
    """Content rectangle of a window of frames ``(n, h, w, 3)`` uint8 of one video.

    ``bands_only`` trims flat, still, dark bars only (letterbox and pillarbox): what a
    registered original may carry. The default also trims blurred and static-title bands,
    for uploads, and may over-trim dark or smooth footage, so it is used beside the full
    frame, never instead of it.

    Rows are judged first and columns within the kept rows, so a wide band does not hide a
    narrow one. A line is judged by its median pixel, and where bars take more than half of
    the lines across them (a portrait picture pillarboxed in a grid's cell), every line
    across is "band", and rows first cut the picture to a strip. So a layout part
    (``part``) is also trimmed columns first, and the order that keeps more wins
    (``part_both_orders``); its bars may start a few lines in from its edge (``part_edge``)."""
    n, h, w, _ = frames.shape
    maps = _maps(frames)
    skip = params.part_edge if part else 0
    rows_first = _trimmed(maps, bands_only, params, columns_first=False, skip=skip)
    if part and params.part_both_orders:
        columns_first = _trimmed(maps, bands_only, params, columns_first=True, skip=skip)
        if _area(columns_first) > _area(rows_first):
            rows_first = columns_first
    top, bottom, left, right = rows_first
    rows, cols = maps[0].shape
    return Box(2 * top, h if bottom == rows else 2 * bottom, 2 * left, w if right == cols else 2 * right)


def _area(box: tuple[int, int, int, int]) -> int:
    top, bottom, left, right = box
    return (bottom - top) * (right - left)


def _trimmed(maps: tuple, bands_only: bool, p: RegionParams, columns_first: bool, skip: int = 0) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the kept half-resolution maps: one axis's bands
    trimmed, then the other's within the kept lines."""
    if columns_first:
        maps = tuple(m.T if m is not None else None for m in maps)
    first, first_end = _edge_trim(*_profiles(maps, axis=1), bands_only, p, skip)
    end = maps[0].shape[0] - first_end
    kept = tuple(m[first:end] if m is not None else None for m in maps)
    second, second_end = _edge_trim(*_profiles(kept, axis=0), bands_only, p, skip)
    second_stop = maps[0].shape[1] - second_end
    if columns_first:
        return second, second_stop, first, end
    return first, end, second, second_stop


def detect_work_boxes(frames: np.ndarray, params: RegionParams, min_run: int, window_box: Box | None = None) -> list[Box]:
    """A registered work's content box for each frame of a window ``(n, h, w, 3)``: the
    window's bars (``detect_content_box`` with ``bands_only``), except for a stretch of at
    least ``min_run`` frames that has bars of its own which the window as a whole has not.

    A window that spans a cut from full-frame footage to a pillarboxed shot has no bar
    that stays dark throughout, so that shot's first seconds were stored with their bars
    while the rest of the shot was stored cut to its picture. Those few frames, alone in
    the work in looking like a query that shows the bars (a mirrored copy, a grid cell, a
    player in a page), then outbid the shot's true frames for every such query instant.
    Stretches are runs of frames whose single-frame bars agree; a run is judged again
    whole, with the motion test, so a dark still shot is trimmed no more than before.
    ``window_box``: the window's box where the caller has it already."""
    n = len(frames)
    whole = window_box if window_box is not None else detect_content_box(frames, params, bands_only=True)
    boxes = [whole] * n
    if n < 2 * min_run:
        return boxes
    single = [detect_content_box(frames[i : i + 1], params, bands_only=True) for i in range(n)]
    start = 0
    for i in range(1, n + 1):
        if i < n and overlap(single[i], single[start]) >= 0.9:
            continue
        if i - start >= min_run and i - start < n:
            run = detect_content_box(frames[start:i], params, bands_only=True)
            if run.intersection(whole) == run.height * run.width and run.height * run.width < 0.95 * whole.height * whole.width:
                boxes[start:i] = [run] * (i - start)
        start = i
    return boxes


def is_informative(rgb: np.ndarray, min_std: float) -> bool:
    """False for near-uniform frames (black, fades, flat colour): their descriptors all look
    alike, so matching them would link any two videos that fade to black. The bar
    (``ViewParams.min_frame_std``) is low, 6 grey levels: low-contrast footage such as an
    empty road still identifies a work, and frames that are merely plain are handled by
    ``background`` normalisation."""
    return float(rgb[::4, ::4, 1].std()) >= min_std


@dataclass(frozen=True)
class WindowParams:
    """What a picture-in-picture window's border must be (``detect_windows``)."""

    edge_ratio: float = 3.0
    """A border is this many times the picture's typical (median) persistent edge."""
    min_side: float = 0.2
    """Border lines are at least this share of the frame's side."""
    area: tuple[float, float] = (0.06, 0.7)
    """Windows smaller or larger than these shares of the frame are ignored."""
    slack: int = 3
    """Half-resolution pixels by which the four lines of one rectangle may miss each other."""


def _lines(edge: np.ndarray, min_len: int, edge_ratio: float) -> list[tuple[int, int, int]]:
    """Long straight runs of strong persistent edge along axis 1: (position, start, end).
    A module-internal triple, unpacked right where it is made."""
    strong = edge > edge_ratio * max(float(np.median(edge)), 0.5)
    found = []
    for pos in range(strong.shape[0]):
        row = np.r_[False, strong[pos], False]
        changes = np.flatnonzero(row[1:] != row[:-1])
        for start, end in zip(changes[::2], changes[1::2]):
            if end - start >= min_len:
                found.append((pos, int(start), int(end)))
    return found


def detect_windows(frames: np.ndarray, params: WindowParams) -> list[Box]:
    """Picture-in-picture windows in a window of frames ``(n, h, w, 3)``.

    A video pasted over another keeps a straight border that stays put while the pictures
    on both sides of it change, so the border is a persistent edge: the mean over time of
    the absolute luma difference across it stays high, where moving content averages out.
    We look for two horizontal and two vertical such lines that close a rectangle.
    Static footage has persistent edges everywhere; a rectangle must still be closed by
    four long straight lines, and at worst a false window costs one more descriptor.
    """
    n, h, w, _ = frames.shape
    if n < 4:
        return []
    grey = frames[:, ::2, ::2, 1].astype(np.float32)
    hh, ww = grey.shape[1:]
    across_rows = np.abs(np.diff(grey, axis=1)).mean(axis=0)  # (hh-1, ww): horizontal borders
    across_cols = np.abs(np.diff(grey, axis=2)).mean(axis=0)  # (hh, ww-1): vertical borders
    horizontal = _lines(across_rows, int(params.min_side * ww), params.edge_ratio)
    vertical = _lines(across_cols.T, int(params.min_side * hh), params.edge_ratio)
    slack = params.slack
    boxes: list[Box] = []
    for i, (y1, a1, b1) in enumerate(horizontal):
        for y2, a2, b2 in horizontal[i + 1 :]:
            if y2 - y1 < params.min_side * hh or abs(a1 - a2) > slack or abs(b1 - b2) > slack:
                continue
            left, right = max(a1, a2), min(b1, b2)
            sides = [
                x for x, c, d in vertical
                if c <= y1 + slack and d >= y2 + 1 - slack and (abs(x + 1 - left) <= slack or abs(x + 1 - right) <= slack)
            ]  # fmt: skip
            if not any(abs(x + 1 - left) <= slack for x in sides) or not any(abs(x + 1 - right) <= slack for x in sides):
                continue
            box = Box(2 * (y1 + 1), 2 * (y2 + 1), 2 * left, 2 * right)
            if params.area[0] <= box.area_fraction(h, w) <= params.area[1]:
                boxes.append(box)
    # Keep the largest of overlapping candidates (double lines at a border give several).
    boxes.sort(key=lambda b: -b.height * b.width)
    kept: list[Box] = []
    for box in boxes:
        if all(_overlap(box, k) < 0.5 for k in kept):
            kept.append(box)
    return kept[:2]


def _overlap(a: Box, b: Box) -> float:
    return a.intersection(b) / float(min(a.height * a.width, b.height * b.width))
