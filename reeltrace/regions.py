"""Find the part of the picture that carries the content.

Re-uploads wrap the original in things that are not in it: black letter/pillar boxes, solid
borders, the blurred, enlarged copy that fills a vertical 9:16 repost, and static title or
subtitle bands. Descriptors of the whole frame then mostly describe the wrapping. We trim
such bands from each edge inwards, judging rows (and columns) over a window of frames:

* ``detail[r]``: mean absolute spatial gradient along row ``r``, averaged over the frames;
  blurred and solid bands have almost none.
* ``motion[r]``: mean over the row of the per-pixel standard deviation over time; black
  bars and static graphics have almost none while the content moves.

A row at the edge is trimmed while ``detail < DETAIL_RATIO * ref_detail`` or (when the
content moves at all) ``motion < MOTION_RATIO * ref_motion``, where the references are
the medians over the central half of the picture. At most ``MAX_TRIM`` of each side goes.
Sky and other smooth content can look like a band in a single static shot, which is why
scanning also embeds the full frame beside this crop (see ``visual``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DETAIL_RATIO = 0.2
MOTION_RATIO = 0.15
MIN_MOTION = 1.5  # grey levels: below this the window is treated as a still picture
MAX_TRIM = 0.42
MIN_BAND = 0.02  # bands thinner than this fraction are left alone (compression noise)


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


def _edge_trim(detail: np.ndarray, motion: np.ndarray | None) -> tuple[int, int]:
    """Number of band rows to drop at the start and at the end of a 1-D profile."""
    n = len(detail)
    centre = slice(n // 4, max(n - n // 4, n // 4 + 1))
    ref_detail = float(np.median(detail[centre]))
    band = detail < DETAIL_RATIO * max(ref_detail, 1e-6)
    if motion is not None:
        ref_motion = float(np.median(motion[centre]))
        if ref_motion >= MIN_MOTION:
            band |= motion < MOTION_RATIO * ref_motion
    limit = int(n * MAX_TRIM)
    head = 0
    while head < limit and band[head]:
        head += 1
    tail = 0
    while tail < limit and band[n - 1 - tail]:
        tail += 1
    min_band = int(np.ceil(n * MIN_BAND))
    return (head if head >= min_band else 0), (tail if tail >= min_band else 0)


def detect_content_box(frames: np.ndarray) -> Box:
    """Content rectangle of a window of frames ``(n, h, w, 3)`` uint8 of one video."""
    n, h, w, _ = frames.shape
    # Half resolution and the green channel as luma: the profiles need no more, and this
    # runs for every window of every registered hour.
    grey = frames[:, ::2, ::2, 1].astype(np.float32)
    row_detail = np.abs(np.diff(grey, axis=2)).mean(axis=(0, 2))
    row_motion = grey.std(axis=0).mean(axis=1) if n >= 3 else None
    top, bottom_trim = _edge_trim(row_detail, row_motion)
    bottom = h - bottom_trim
    # Columns are judged only within the kept rows, so a wide band does not hide a narrow one.
    inner = grey[:, top:bottom, :]
    col_detail = np.abs(np.diff(inner, axis=1)).mean(axis=(0, 1))
    col_motion = inner.std(axis=0).mean(axis=0) if n >= 3 else None
    left, right_trim = _edge_trim(col_detail, col_motion)
    right = w - right_trim
    return Box(2 * top, min(2 * bottom, h), 2 * left, min(2 * right, w))


def is_informative(rgb: np.ndarray, min_std: float = 12.0) -> bool:
    """False for near-uniform frames (black, fades, flat colour): their descriptors all look
    alike, so matching them would link any two videos that fade to black."""
    return float(rgb[::4, ::4, 1].std()) >= min_std
