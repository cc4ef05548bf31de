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
``motion``) is below ``BAND_RATIO`` of its ``REFERENCE_PERCENTILE``-th percentile over all
rows: the sharpest rows are content whatever share of the frame the bands take (a vertical
repost can be two thirds band). At most ``MAX_TRIM`` of each side goes; columns are judged
the same way within the kept rows.
Sky and other smooth content can look like a band in a single static shot, which is why
scanning also embeds the full frame beside this crop (see ``visual``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAND_RATIO = 0.25
REFERENCE_PERCENTILE = 90
MIN_DETAIL = 1.0  # grey levels
MIN_MOTION = 1.5  # grey levels: below this the window is treated as a still picture
MAX_TRIM = 0.42
MIN_BAND = 0.02  # bands thinner than this fraction are left alone (compression noise)
DARK_BAR = 40.0  # grey level: a registered original's bars are black (or nearly)


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


def _close_gaps(band: np.ndarray, gap: int) -> np.ndarray:
    """Treat runs of up to ``gap`` non-band rows between band rows as band: the one-row
    edge where a title box meets a blurred band must not stop the trimming."""
    closed = band.copy()
    idx = np.flatnonzero(band)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= gap + 1:
            closed[a:b] = True
    return closed


def _edge_trim(detail: np.ndarray, motion: np.ndarray | None, level: np.ndarray, bands_only: bool) -> tuple[int, int]:
    """Number of band rows to drop at the start and at the end of row profiles."""
    n = len(detail)
    if bands_only:
        # Flat, still and dark: letterbox bars, nothing that could be content. A white or
        # coloured flat margin is how slides, title cards and flat-background animation
        # look; trimming it stored a picture that a plain copy of the full frame did not
        # resemble (0.5-0.7 similarity instead of 0.9 for a slide with a caption on it).
        band = (detail < MIN_DETAIL) & (level < DARK_BAR)
        if motion is not None:
            band &= motion < MIN_MOTION
    else:
        band = detail < BAND_RATIO * max(float(np.percentile(detail, REFERENCE_PERCENTILE)), MIN_DETAIL)
        if motion is not None:
            ref_motion = float(np.percentile(motion, REFERENCE_PERCENTILE))
            if ref_motion >= MIN_MOTION:
                band |= motion < BAND_RATIO * ref_motion
        band = _close_gaps(band, max(1, int(n * MIN_BAND)))
    limit = int(n * MAX_TRIM)
    head = 0
    while head < limit and band[head]:
        head += 1
    tail = 0
    while tail < limit and band[n - 1 - tail]:
        tail += 1
    min_band = int(np.ceil(n * MIN_BAND))
    return (head if head >= min_band else 0), (tail if tail >= min_band else 0)


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


def detect_content_box(frames: np.ndarray, bands_only: bool = False) -> Box:
    """Content rectangle of a window of frames ``(n, h, w, 3)`` uint8 of one video.

    ``bands_only`` trims flat, still, dark bars only (letterbox and pillarbox): what a
    registered original may carry. The default also trims blurred and static-title bands,
    for uploads, and may over-trim dark or smooth footage, so it is used beside the full
    frame, never instead of it."""
    n, h, w, _ = frames.shape
    maps = _maps(frames)
    detail = maps[0]
    top, bottom_trim = _edge_trim(*_profiles(maps, axis=1), bands_only)
    bottom = detail.shape[0] - bottom_trim
    # Columns are judged only within the kept rows, so a wide band does not hide a narrow one.
    kept = tuple(m[top:bottom] if m is not None else None for m in maps)
    left, right_trim = _edge_trim(*_profiles(kept, axis=0), bands_only)
    right = detail.shape[1] - right_trim
    return Box(2 * top, h if bottom_trim == 0 else 2 * bottom, 2 * left, w if right_trim == 0 else 2 * right)


def is_informative(rgb: np.ndarray, min_std: float = 6.0) -> bool:
    """False for near-uniform frames (black, fades, flat colour): their descriptors all look
    alike, so matching them would link any two videos that fade to black. The bar is low
    (std 6 grey levels): low-contrast footage such as an empty road still identifies a
    work, and frames that are merely plain are handled by ``background`` normalisation."""
    return float(rgb[::4, ::4, 1].std()) >= min_std


WINDOW_EDGE_RATIO = 3.0  # a window border is this many times the picture's typical edge
WINDOW_MIN_SIDE = 0.2  # border lines at least this fraction of the frame's side
WINDOW_AREA = (0.06, 0.7)  # windows smaller or larger than this (fraction of frame) are ignored


def _lines(edge: np.ndarray, min_len: int) -> list[tuple[int, int, int]]:
    """Long straight runs of strong persistent edge along axis 1: (position, start, end)."""
    strong = edge > WINDOW_EDGE_RATIO * max(float(np.median(edge)), 0.5)
    found = []
    for pos in range(strong.shape[0]):
        row = np.r_[False, strong[pos], False]
        changes = np.flatnonzero(row[1:] != row[:-1])
        for start, end in zip(changes[::2], changes[1::2]):
            if end - start >= min_len:
                found.append((pos, int(start), int(end)))
    return found


def detect_windows(frames: np.ndarray, slack: int = 3) -> list[Box]:
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
    horizontal = _lines(across_rows, int(WINDOW_MIN_SIDE * ww))
    vertical = _lines(across_cols.T, int(WINDOW_MIN_SIDE * hh))
    boxes: list[Box] = []
    for i, (y1, a1, b1) in enumerate(horizontal):
        for y2, a2, b2 in horizontal[i + 1 :]:
            if y2 - y1 < WINDOW_MIN_SIDE * hh or abs(a1 - a2) > slack or abs(b1 - b2) > slack:
                continue
            left, right = max(a1, a2), min(b1, b2)
            sides = [
                x for x, c, d in vertical
                if c <= y1 + slack and d >= y2 + 1 - slack and (abs(x + 1 - left) <= slack or abs(x + 1 - right) <= slack)
            ]  # fmt: skip
            if not any(abs(x + 1 - left) <= slack for x in sides) or not any(abs(x + 1 - right) <= slack for x in sides):
                continue
            box = Box(2 * (y1 + 1), 2 * (y2 + 1), 2 * left, 2 * right)
            if WINDOW_AREA[0] <= box.area_fraction(h, w) <= WINDOW_AREA[1]:
                boxes.append(box)
    # Keep the largest of overlapping candidates (double lines at a border give several).
    boxes.sort(key=lambda b: -b.height * b.width)
    kept: list[Box] = []
    for box in boxes:
        if all(_overlap(box, k) < 0.5 for k in kept):
            kept.append(box)
    return kept[:2]


def _overlap(a: Box, b: Box) -> float:
    dy = min(a.bottom, b.bottom) - max(a.top, b.top)
    dx = min(a.right, b.right) - max(a.left, b.left)
    if dy <= 0 or dx <= 0:
        return 0.0
    return dy * dx / float(min(a.height * a.width, b.height * b.width))
