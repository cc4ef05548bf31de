"""Content-region detection on generated frames: what a work may have trimmed (dark
letterbox bars only) and what an upload may (any flat or blurred band)."""

from __future__ import annotations

import numpy as np
import pytest

from reeltrace.video.regions import RegionParams, detect_content_box

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
