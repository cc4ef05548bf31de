"""Content-region and picture-in-picture detection on generated frames: what a work may
have trimmed (dark letterbox bars only), what an upload may (any flat or blurred band), and
which pasted windows count."""

from __future__ import annotations

import numpy as np
import pytest

from reeltrace.video.regions import Box, RegionParams, WindowParams, detect_content_box, detect_windows, detect_work_boxes

PARAMS = RegionParams()


def _framed(bar_level: int, bar: int = 40, n: int = 8, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    """Moving noise content between flat bars of ``bar`` rows at the top and bottom."""
    rng = np.random.default_rng(3)
    frames = np.full((n, *size, 3), bar_level, np.uint8)
    frames[:, bar : size[0] - bar] = rng.integers(0, 256, (n, size[0] - 2 * bar, size[1], 3), dtype=np.uint8)
    return frames


def test_work_trims_black_letterbox():
    box = detect_content_box(_framed(0), PARAMS, bands_only=True)
    assert box.top == pytest.approx(40, abs=4) and box.bottom == pytest.approx(200, abs=4)
    assert (box.left, box.right) == (0, 320)


@pytest.mark.parametrize("level", [255, 128])
def test_work_keeps_light_flat_margins(level):
    # A slide's white margin or a flat-coloured background is part of the picture.
    box = detect_content_box(_framed(level), PARAMS, bands_only=True)
    assert (box.top, box.bottom, box.left, box.right) == (0, 240, 0, 320)


@pytest.mark.parametrize("level", [0, 255])
def test_upload_trims_any_flat_band(level):
    box = detect_content_box(_framed(level), PARAMS, bands_only=False)
    assert box.top == pytest.approx(40, abs=4) and box.bottom == pytest.approx(200, abs=4)


def test_region_parameters_are_read_from_the_params():
    """No trimming allowed (``max_trim=0``): the letterboxed window keeps its bars."""
    box = detect_content_box(_framed(0), RegionParams(max_trim=0.0), bands_only=True)
    assert (box.top, box.bottom, box.left, box.right) == (0, 240, 0, 320)


def _cut_to_pillarbox(full: int, n: int = 24, size: tuple[int, int] = (180, 320), bar: int = 60) -> np.ndarray:
    """``full`` frames of moving noise over the whole frame, then a cut to moving noise
    between black pillar bars ``bar`` columns wide."""
    frames = np.random.default_rng(5).integers(0, 256, (n, *size, 3), dtype=np.uint8)
    frames[full:, :, :bar] = 0
    frames[full:, :, size[1] - bar :] = 0
    return frames


def test_a_work_shot_cut_to_inside_a_window_is_stored_without_its_bars():
    # The window as a whole has no bar that stays dark: only the run after the cut has.
    frames = _cut_to_pillarbox(full=10)
    assert detect_content_box(frames, PARAMS, bands_only=True) == Box(0, 180, 0, 320)
    boxes = detect_work_boxes(frames, PARAMS, min_run=4)
    assert all(b == Box(0, 180, 0, 320) for b in boxes[:10])
    assert all(b.left == pytest.approx(60, abs=4) and b.right == pytest.approx(260, abs=4) for b in boxes[10:])
    assert len({b for b in boxes[10:]}) == 1


@pytest.mark.parametrize("full", [0, 24, 21])
def test_a_work_window_of_one_layout_or_a_short_run_keeps_the_window_s_box(full):
    # All pillarboxed, all full frame, or a run of 3 frames (under min_run): the window's box.
    frames = _cut_to_pillarbox(full=full)
    whole = detect_content_box(frames, PARAMS, bands_only=True)
    assert detect_work_boxes(frames, PARAMS, min_run=4) == [whole] * 24


def test_dark_moving_content_at_an_edge_is_not_taken_for_bars():
    # A run is judged whole, with the detail and motion tests: dark footage with detail
    # at an edge (a night street) is picture, not a bar.
    frames = _cut_to_pillarbox(full=24)
    rng = np.random.default_rng(9)
    frames[10:, :, :60] = rng.integers(0, 30, (14, 180, 60, 3), dtype=np.uint8)
    assert detect_work_boxes(frames, PARAMS, min_run=4) == [Box(0, 180, 0, 320)] * 24


def _picture_in_picture(n: int = 8, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    """Smooth moving footage with a brighter window of other moving footage pasted at
    rows 60-180, columns 80-240 (a quarter of the frame)."""
    y, x = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float32)
    frames = []
    for t in range(n):
        picture = 60 + 40 * np.sin((x + 7 * t) / 37) + 30 * np.cos((y - 5 * t) / 23)
        inner = 170 + 40 * np.sin((x - 9 * t) / 19) * np.cos((y + 4 * t) / 29)
        picture[60:180, 80:240] = inner[60:180, 80:240]
        frames.append(np.repeat(picture[..., None], 3, axis=2))
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def test_a_pasted_window_is_found_within_its_size_limits():
    frames = _picture_in_picture()
    assert detect_windows(frames, WindowParams()) == [Box(60, 180, 80, 240)]
    # A quarter of the frame is above a 20% size limit: not a window then.
    assert detect_windows(frames, WindowParams(area=(0.06, 0.2))) == []


def _portrait_pillarboxed(n: int = 8, size: tuple[int, int] = (84, 148), picture: int = 48) -> np.ndarray:
    """A portrait picture ``picture`` columns wide in the middle of black bars that take
    two thirds of the width: a 9:16 video in a landscape grid's cell."""
    rng = np.random.default_rng(5)
    frames = np.zeros((n, *size, 3), np.uint8)
    left = (size[1] - picture) // 2
    frames[:, :, left : left + picture] = rng.integers(0, 256, (n, size[0], picture, 3), dtype=np.uint8)
    return frames


def test_bars_wider_than_the_picture_are_trimmed_whole():
    """Judged row by row first, every row of a pillarboxed portrait picture is mostly bar,
    so its median pixel is bar, and a grid cell's rows were cut to a strip before the
    columns were looked at (one order, as it was); a part tried both ways keeps the picture."""
    frames = _portrait_pillarboxed()
    box = detect_content_box(frames, PARAMS, bands_only=True, part=True)
    assert (box.top, box.bottom) == (0, 84) and box.left == pytest.approx(50, abs=2) and box.right == pytest.approx(98, abs=2)
    strip = detect_content_box(frames, RegionParams(part_both_orders=False), bands_only=True, part=True)
    assert strip.height < 60


def test_a_part_s_bars_are_found_behind_a_gap_at_its_edge():
    """A grid cell cut where the grid's thirds are holds a line of the white gap between
    cells at its edge: it stops a trim from the edge, and the cell kept its bars. A part's
    bars may start a few lines in; a work's are judged from its edge (``part`` off)."""
    frames = _portrait_pillarboxed()
    frames[:, :, :2] = 255
    frames[:, :2, :] = 255
    part = detect_content_box(frames, PARAMS, bands_only=True, part=True)
    assert part.left == pytest.approx(50, abs=2) and part.right == pytest.approx(98, abs=2) and part.bottom == 84
    whole = detect_content_box(frames, PARAMS, bands_only=True)
    assert whole.left == 0


def test_a_filmed_screen_s_window_also_gets_a_view_less_its_grainy_bars():
    """A TV filmed with a phone shows a portrait work pillarboxed on its screen: grain and
    flicker make the bars neither still nor flat, so no dark-bar trim takes them, and the
    window's view is two thirds bar. The window also gets a view less its bands, as an
    upload's own region is cut (``ViewParams.window_bands``)."""
    from reeltrace.video.config import VideoConfig
    from reeltrace.video.embed import _window_bands

    rng = np.random.default_rng(8)
    frames = np.full((16, 252, 448, 3), 90, np.uint8)  # the room
    window = Box(40, 200, 80, 368)  # the screen, inside its bezel
    frames[:, window.top - 6 : window.bottom + 6, window.left - 6 : window.right + 6] = 12
    screen = rng.normal(20, 6, (16, window.height, window.width, 1)) + rng.normal(0, 6, (16, 1, 1, 1))  # grain, flicker
    picture = slice(100, 188)  # a portrait picture, 88 of the screen's 288 columns
    screen[:, :, picture] = rng.integers(0, 256, (16, window.height, 88, 1))
    frames[:, window.top : window.bottom, window.left : window.right] = np.clip(screen, 0, 255).astype(np.uint8)
    boxes = _window_bands(frames, [window], VideoConfig())
    assert len(boxes) == 1, boxes
    box = boxes[0]
    assert abs(box.left - (window.left + 100)) <= 6 and abs(box.right - (window.left + 188)) <= 6, box
    assert abs(box.top - window.top) <= 6 and abs(box.bottom - window.bottom) <= 6, box
