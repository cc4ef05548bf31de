"""A filmed screen: the quadrilateral a TV or monitor makes in a phone's picture, rectified.

A screen filmed at an angle is not a rectangle of the frame: its near side is taller than
its far side, so its top and bottom edges slant, and neither ``regions.detect_windows``
(straight, axis-aligned borders) nor ``layouts`` (seams and boxes) finds it; the room's
flicker and the hand's shake make the whole frame "move", so the moving region is the
frame. What stays is the screen's outline: four long straight edges (bezel against room,
picture against bezel). Found as a document scanner finds a page, over a window of
frames at half resolution:

* **Edges.** A pixel is edge where its mean step across rows (for top and bottom sides)
  or across columns (left and right) is ``edge_ratio`` times the median step, or where
  its spread over time, less the frame's common flicker, is ``shake_ratio`` times the
  median spread: the hand's shake moves every sharp edge a pixel or two, which shows the
  outline where a dark bezel meets a dark room. A line one pixel off still counts; a
  pixel amid ``clear`` lines of edge either side is inside a patch (text, foliage, a busy
  picture), not on a side.
* **Sides.** Every straight line at up to ``max_slant`` from the axis is walked across
  the frame (a Hough transform over the slopes of a screen turned up to 20-25 degrees or
  a phone held askew); its longest run of edge, with gaps of up to ``gap`` pixels, is a
  side candidate when it spans ``min_side`` of the frame.
* **Quadrilateral.** Two near-horizontal and two near-vertical candidates close one when
  each side's run covers ``coverage`` of the stretch between its two corners and each
  stretch spans ``min_side``. They are ranked by the share of edge on their four sides,
  corner to corner (a shelf's line may run past the TV), and the first whose inside
  changes ``inside_motion`` times as much as a ring around it is the screen (one video
  filling the frame moves on both sides of any line in it). A screen met nearly head-on
  (``min_skew``) is a rectangle, which the windows and parts already crop.

The screen is then mapped back to an upright rectangle (a homography; the mean lengths
of opposite sides give its shape) and embedded as a query view. Under a 7-19 degree turn,
rectifying the bench's filmed TV by its known outline and trimming the work's bars gave
0.62-0.69 similarity to the stored frames where the outline's bounding box gave 0.50-0.55;
found by this rule, the bench's tune-half filmed TVs get a quadrilateral in 15 of 22
windows, and 3 of 58 windows of its single-video footage get one (``BENCHMARKS.md``,
stop 27).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class ScreenParams:
    """How a filmed screen's outline is told (the module docstring gives the rule)."""

    enabled: bool = True
    """Look for a filmed screen at all (a query view; works never get one)."""
    edge_ratio: float = 3.0
    """A pixel is edge where its persistent step is this many times the median one (as a
    picture-in-picture window's border, ``WindowParams.edge_ratio``)."""
    shake_ratio: float = 2.0
    """... or where its spread over time, less the frame's common flicker, is this many
    times the median spread: a hand-held phone shakes, and the screen's sharp outline
    moves a pixel or two, which its mean step does not show where the bezel is as dark
    as the room; 0: steps only."""
    max_slant: float = 25.0
    """Degrees: sides may slant this far from the axis."""
    slant_step: float = 1.0
    """Degrees between the slopes tried."""
    min_side: float = 0.2
    """A side spans at least this share of the frame's side."""
    gap: int = 6
    """Half-resolution pixels: a side's run of edge may break this long (glare, a dark
    stretch of picture beside a dark bezel). On the tune half's filmed TVs (cells sample,
    seed 3033, 22 windows), 3: a quadrilateral in 6, 6: in 15, 8: in 18; on its
    single-video footage (58 windows) 2, 3 and 8 (``scripts/screen_study.py``;
    ``BENCHMARKS.md``, stop 27)."""
    clear: int = 4
    """Half-resolution pixels: an edge pixel whose lines this far off on both sides are
    edge too is inside a patch, not on a side (``_border``)."""
    coverage: float = 0.8
    """Share of the stretch between two corners that the side's run must cover."""
    area: tuple[float, float] = (0.06, 0.85)
    """Screens smaller or larger than these shares of the frame are ignored (a screen that
    fills the phone's frame is the full-frame view)."""
    candidates: int = 16
    """Side candidates kept per axis, longest first, after near-duplicates are dropped:
    lines through a room's clutter may crowd out a TV's shorter sides, and the search
    costs the square of the pairs. On the tune half's filmed TVs (22 windows) 16 and 24
    found a quadrilateral in 15, 40 in 14; on its single-video footage (58) in 3, 4, 5."""
    tries: int = 20
    """Quadrilaterals tried, best covered first, for a moving picture (``_picture_moves``)."""
    inside_motion: float = 1.5
    """A screen's picture changes at least this many times as much as the room around it
    (``_picture_moves``). On the tune half's single-video footage (58 windows) 9 windows
    got a quadrilateral without the rule, 7 at 1.0, 3 at 1.5; of its filmed TVs (22
    windows) 16, 16 and 15 did, of its dark works on a filmed TV 14, 12 and 10. A dark,
    nearly still picture in a shaken room changes less than the room's edges do: that is
    the class this rule still loses."""
    min_skew: float = 0.05
    """A quadrilateral whose corners all lie within this share of the shorter side from its
    bounding box is a rectangle: a crop, which the windows and parts already embed. Found
    corners scatter by a bezel's width (some on the picture's edge, some on the bezel's):
    7 px of 150 on an upright hand-made one (``tests/test_screens.py``)."""


@dataclass(frozen=True)
class Quad:
    """A quadrilateral in frame pixels: corners (x, y) clockwise from the top left."""

    corners: tuple[tuple[float, float], ...]

    def bounds(self) -> tuple[float, float, float, float]:
        """(top, bottom, left, right) of the bounding box."""
        xs, ys = zip(*self.corners, strict=True)
        return min(ys), max(ys), min(xs), max(xs)

    def shape(self) -> tuple[int, int]:
        """(width, height) of the rectangle it is mapped to: the mean of opposite sides."""
        c = np.asarray(self.corners, float)
        top, right, bottom, left = (float(np.hypot(*(c[a] - c[(a + 1) % 4]))) for a in range(4))
        return max(int(round((top + bottom) / 2)), 1), max(int(round((left + right) / 2)), 1)

    def skew(self) -> float:
        """Largest distance of a corner from its bounding box's corner, as a share of the
        box's shorter side: 0 for a rectangle."""
        top, bottom, left, right = self.bounds()
        box = ((left, top), (right, top), (right, bottom), (left, bottom))
        far = max(float(np.hypot(cx - bx, cy - by)) for (cx, cy), (bx, by) in zip(self.corners, box, strict=True))
        return far / max(min(bottom - top, right - left), 1.0)


@dataclass(frozen=True)
class _Side:
    """A straight run of edge: along axis 1 of its map, ``pos = at + slope * (t - centre)``
    for ``t`` in [start, end)."""

    at: float
    slope: float
    start: int
    end: int


def _edge_maps(frames: np.ndarray, p: ScreenParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge pixels of horizontal sides (steps across rows) and of vertical sides (steps
    across columns, transposed so both are walked along axis 1), and each pixel's spread
    over time less the common flicker; half resolution."""
    grey = frames[:, ::2, ::2, 1].astype(np.float32)
    # The room's flicker moves every pixel alike: without it, what changes is the picture
    # and, as the hand shakes, every sharp edge.
    steady = grey - np.median(grey, axis=(1, 2), keepdims=True)
    shaken = steady.std(axis=0)
    ridge = shaken > p.shake_ratio * max(float(np.median(shaken)), 0.5)
    across_rows = np.abs(np.diff(grey, axis=1)).mean(axis=0)
    across_cols = np.abs(np.diff(grey, axis=2)).mean(axis=0)
    out = []
    for edge, shake in ((across_rows, ridge[1:] | ridge[:-1]), (across_cols, ridge[:, 1:] | ridge[:, :-1])):
        strong = edge > p.edge_ratio * max(float(np.median(edge)), 0.5)
        if p.shake_ratio > 0:
            strong |= shake
        out.append(strong)
    rows, cols = out[0], out[1].T
    return _border(rows, p.clear), _border(cols, p.clear), shaken


def _border(strong: np.ndarray, clear: int) -> np.ndarray:
    """Edge pixels that may lie on a side, lines along axis 1: a line one pixel off still
    counts (shake and blur spread an edge over 2-3 lines), and a pixel amid ``clear``
    lines of edge on both sides lies inside a patch of texture or of moving picture (text,
    foliage, a busy scene on the screen), not on a side; the patch's own outline stays,
    and so do thin edges side by side (a bezel's two edges, a shelf beside the TV)."""
    wide = strong.copy()
    wide[1:] |= strong[:-1]
    wide[:-1] |= strong[1:]
    total = np.cumsum(wide, axis=0, dtype=np.int32)
    total = np.pad(np.pad(total, ((0, clear), (0, 0)), mode="edge"), ((clear + 1, 0), (0, 0)))
    around = total[2 * clear + 1 :] - total[: -2 * clear - 1]  # edge lines among the 2 clear + 1 around
    return wide & (around < 2 * clear + 1)


def _closed(hit: np.ndarray, gap: int) -> np.ndarray:
    """Gaps of up to ``gap`` pixels between edge pixels along axis 1 filled."""
    if gap <= 0:
        return hit
    pad = np.pad(hit, ((0, 0), (gap, gap)))
    n = hit.shape[1]
    before = np.zeros_like(hit)
    after = np.zeros_like(hit)
    for k in range(1, gap + 1):
        before |= pad[:, gap - k : gap - k + n]
        after |= pad[:, gap + k : gap + k + n]
    return hit | (before & after)


def _sides(strong: np.ndarray, p: ScreenParams) -> list[_Side]:
    """The longest straight runs of edge along axis 1 of ``strong`` at every slope, near
    duplicates dropped, up to ``p.candidates``."""
    lines, length = strong.shape
    centre = (length - 1) / 2.0
    t = np.arange(length)
    at = np.arange(lines, dtype=np.float64)
    min_len = int(p.min_side * length)
    steps = int(round(p.max_slant / p.slant_step))
    slopes = np.tan(np.radians(np.arange(-steps, steps + 1) * p.slant_step))
    # Every line at every slope at once: (slope, line, t) -> the edge pixel it passes.
    pos = np.rint(at[None, :, None] + slopes[:, None, None] * (t[None, None, :] - centre)).astype(np.int64)
    raw = strong[np.clip(pos, 0, lines - 1), t[None, None, :]] & (pos >= 0) & (pos < lines)
    flat = _closed(raw.reshape(-1, length), p.gap)
    change = np.diff(np.pad(flat, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    which, starts = np.nonzero(change == 1)
    _, ends = np.nonzero(change == -1)
    keep = ends - starts >= min_len
    which, starts, ends = which[keep], starts[keep], ends[keep]
    runs = np.stack([at[which % lines], slopes[which // lines], starts, ends], axis=1).astype(np.float64)
    runs = runs[np.argsort(runs[:, 2] - runs[:, 3], kind="stable")]  # longest first
    # Of the lines through one thick edge (within ``clear`` pixels of each other over the
    # stretch both span), the longest stands for them all.
    kept = np.empty((p.candidates, 4))
    count = 0
    for run in runs:
        if count:
            other = kept[:count]
            lo, hi = np.maximum(run[2], other[:, 2]), np.minimum(run[3], other[:, 3]) - 1
            gap_lo = np.abs(run[0] - other[:, 0] + (run[1] - other[:, 1]) * (lo - centre))
            gap_hi = np.abs(run[0] - other[:, 0] + (run[1] - other[:, 1]) * (hi - centre))
            if np.any((hi >= lo) & (gap_lo <= p.clear) & (gap_hi <= p.clear)):
                continue
        kept[count] = run
        count += 1
        if count == p.candidates:
            break
    return [_Side(float(a), float(b), int(c), int(d)) for a, b, c, d in kept[:count]]


@dataclass(frozen=True)
class _SideArrays:
    """Many sides' fields as arrays, for the quadrilateral search."""

    at: np.ndarray
    slope: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def of(cls, sides: list[_Side]) -> _SideArrays:
        return cls(*(np.array([getattr(s, f) for s in sides], np.float64) for f in ("at", "slope", "start", "end")))


def _cross(horizontal: _Side, vertical: _SideArrays, cx: float, cy: float) -> tuple[np.ndarray, np.ndarray]:
    """Where a horizontal side ``y = a + s (x - cx)`` meets vertical ones ``x = b + u (y - cy)``."""
    a, s, b, u = horizontal.at, horizontal.slope, vertical.at, vertical.slope
    y = (a + s * (b - u * cy - cx)) / (1.0 - s * u)
    return b + u * (y - cy), y


def _covered(side: _Side | _SideArrays, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Share of [lo, hi) along each side's axis that its run covers (0 where hi <= lo)."""
    inside = np.clip(np.minimum(side.end, hi) - np.maximum(side.start, lo), 0.0, None)
    return np.where(hi - lo >= 1, inside / np.maximum(hi - lo, 1.0), 0.0)


def detect_screen(frames: np.ndarray, params: ScreenParams) -> Quad | None:
    """The filmed screen in a window of frames ``(n, h, w, 3)``, in frame pixels, or None
    (the module docstring gives the rule)."""
    n, h, w, _ = frames.shape
    if not params.enabled or n < 4:
        return None
    rows_edge, cols_edge, shaken = _edge_maps(frames, params)
    hh, ww = rows_edge.shape[0] + 1, rows_edge.shape[1]
    # Row step r lies between rows r and r + 1: its line is at r + 0.5 (and so for columns).
    horizontal = [_Side(s.at + 0.5, s.slope, s.start, s.end) for s in _sides(rows_edge, params)]
    vertical = [_Side(s.at + 0.5, s.slope, s.start, s.end) for s in _sides(cols_edge, params)]
    if len(horizontal) < 2 or len(vertical) < 2:
        return None
    cx, cy = (ww - 1) / 2.0, (hh - 1) / 2.0
    # Every pair of vertical sides at once, for each pair of horizontal ones.
    pairs = [(a, b) if a.at < b.at else (b, a) for i, a in enumerate(vertical) for b in vertical[i + 1 :]]
    left, right = (_SideArrays.of([pair[k] for pair in pairs]) for k in (0, 1))
    wide = right.at - left.at >= params.min_side * ww
    found: list[tuple[float, float, tuple]] = []
    horizontal.sort(key=lambda side: side.at)  # so that of each pair the first is the top
    for i, top in enumerate(horizontal):
        for bottom in horizontal[i + 1 :]:
            if bottom.at - top.at < params.min_side * hh:
                continue
            x0, y0 = _cross(top, left, cx, cy)
            x1, y1 = _cross(top, right, cx, cy)
            x2, y2 = _cross(bottom, right, cx, cy)
            x3, y3 = _cross(bottom, left, cx, cy)
            cover = np.minimum.reduce([_covered(top, x0, x1), _covered(bottom, x3, x2), _covered(left, y0, y3), _covered(right, y1, y2)])
            area = 2.0 * np.abs((x0 - x2) * (y1 - y3) - (x1 - x3) * (y0 - y2))  # half the diagonals' cross product, at full size
            share = area / float(h * w)
            # Each side, corner to corner, as long as a side candidate must be: a stretch of a
            # few pixels is "covered" by any run through it.
            long = ((x1 - x0 >= params.min_side * ww) & (x2 - x3 >= params.min_side * ww)
                    & (y3 - y0 >= params.min_side * hh) & (y2 - y1 >= params.min_side * hh))  # fmt: skip
            ok = np.flatnonzero(wide & long & (cover >= params.coverage) & (share >= params.area[0]) & (share <= params.area[1]))
            if len(ok) == 0:
                continue
            # Runs may reach past a corner (a shelf under the TV): the quadrilateral whose
            # own four sides, corner to corner, lie on most edge is the screen.
            support = (_support(rows_edge, x0[ok], y0[ok] - 0.5, x1[ok], y1[ok] - 0.5) + _support(rows_edge, x3[ok], y3[ok] - 0.5, x2[ok], y2[ok] - 0.5)
                       + _support(cols_edge, y0[ok], x0[ok] - 0.5, y3[ok], x3[ok] - 0.5) + _support(cols_edge, y1[ok], x1[ok] - 0.5, y2[ok], x2[ok] - 0.5)) / 4  # fmt: skip
            for k, j in enumerate(ok):
                found.append((float(support[k]), float(area[j]), ((x0[j], y0[j]), (x1[j], y1[j]), (x2[j], y2[j]), (x3[j], y3[j]))))
    found.sort(key=lambda f: (-f[0], -f[1]))
    for _, _, corners in found[: params.tries]:
        if not _picture_moves(shaken, np.asarray(corners, np.float64), params):
            continue
        quad = Quad(tuple((2.0 * float(x), 2.0 * float(y)) for x, y in corners))
        return quad if quad.skew() >= params.min_skew else None
    return None


def _picture_moves(shaken: np.ndarray, corners: np.ndarray, p: ScreenParams) -> bool:
    """Whether what lies inside ``corners`` (half resolution) changes ``inside_motion``
    times as much as a ring around it: a screen's picture moves in a still room; one
    video filling the frame moves on both sides of any line in it."""
    centre = corners.mean(axis=0)

    def mask(scale: float) -> np.ndarray:
        points = [tuple(c) for c in centre + scale * (corners - centre)]
        image = Image.new("1", (shaken.shape[1], shaken.shape[0]))
        ImageDraw.Draw(image).polygon(points, fill=1)
        return np.asarray(image, bool)

    inside = mask(0.85)
    ring = mask(1.35) & ~mask(1.15)
    if not inside.any() or not ring.any():
        return False
    return float(shaken[inside].mean()) >= p.inside_motion * float(shaken[ring].mean())


def _support(strong: np.ndarray, t0: np.ndarray, p0: np.ndarray, t1: np.ndarray, p1: np.ndarray, samples: int = 48) -> np.ndarray:
    """Share of edge pixels of ``strong`` on each segment from (t0, p0) to (t1, p1), with
    ``t`` along axis 1 and ``p`` along axis 0."""
    f = np.linspace(0.0, 1.0, samples)[None, :]
    t = np.rint(t0[:, None] + f * (t1 - t0)[:, None]).astype(np.int64)
    pos = np.rint(p0[:, None] + f * (p1 - p0)[:, None]).astype(np.int64)
    inside = (t >= 0) & (t < strong.shape[1]) & (pos >= 0) & (pos < strong.shape[0])
    hit = strong[np.clip(pos, 0, strong.shape[0] - 1), np.clip(t, 0, strong.shape[1] - 1)] & inside
    return hit.mean(axis=1)


def _homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3 x 3 projective map taking four ``source`` points to ``target`` (direct linear
    transform: the null vector of the 8 x 9 system)."""
    rows = []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.asarray(rows, np.float64))
    m = vt[-1].reshape(3, 3)
    return m / m[2, 2]


def rectify(rgb: np.ndarray, quad: Quad) -> np.ndarray:
    """The picture inside ``quad`` mapped to an upright rectangle of ``quad.shape()``."""
    width, height = quad.shape()
    rectangle = np.array([(0, 0), (width, 0), (width, height), (0, height)], np.float64)
    # PIL maps each output pixel back to its source: the homography from rectangle to quad.
    back = _homography(rectangle, np.asarray(quad.corners, np.float64))
    image = Image.fromarray(rgb).transform((width, height), Image.Transform.PERSPECTIVE, tuple(back.flatten()[:8]), Image.BILINEAR)
    return np.asarray(image)
