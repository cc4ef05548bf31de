"""A filmed screen (``video.screens``) on hand-made windows of frames: a picture seen at an
angle in a still room, shaken and flickering, is found as its quadrilateral and mapped back
upright; one video filling the frame, and an upright pasted window, are no screen."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

import mediagen

from reeltrace.video.screens import Quad, ScreenParams, _border, detect_screen, rectify

FRAMES = 24
H, W = 246, 448


def _texture(rng: np.random.Generator, h: int, w: int, cell: int = 8) -> np.ndarray:
    big = np.kron(rng.normal(size=(h // cell + 2, w // cell + 2)), np.ones((cell, cell)))[:h, :w]
    return (big - big.min()) / (np.ptp(big) + 1e-9)


def _room(rng: np.random.Generator) -> np.ndarray:
    """A still, dim, soft room with a few straight things in it (a shelf, a door frame)."""
    soft = Image.fromarray((255 * _texture(rng, H, W, cell=32)).astype(np.uint8)).filter(ImageFilter.GaussianBlur(6))
    room = 40 + 50 / 255 * np.asarray(soft, np.float64)
    room[222:228, :] += 40  # a shelf under the TV, longer than the TV
    room[:, 20:24] += 35  # a door frame
    return room


def _warp(picture: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``picture`` drawn into the quadrilateral ``corners`` of an H x W canvas, and the
    mask of where it lands."""
    image = mediagen.into_quad(Image.fromarray(picture.astype(np.float32), mode="F"), corners, (W, H))
    mask = mediagen.into_quad(Image.fromarray(np.full(picture.shape, 255, np.uint8)), corners, (W, H), Image.NEAREST)
    return image, mask > 0


def _filmed_screen(seed: int, corners: np.ndarray, shake: int = 2, flicker: float = 10.0) -> np.ndarray:
    """(FRAMES, H, W, 3): a moving picture in a dark bezel at ``corners``, in a still room,
    the whole shaken by up to ``shake`` pixels and flickering by ``flicker`` grey levels."""
    rng = np.random.default_rng(seed)
    room = _room(rng)
    centre = corners.mean(axis=0)
    bezel = centre + 1.06 * (corners - centre)
    _, bezel_mask = _warp(np.zeros((60, 100)), bezel)
    out = np.empty((FRAMES, H, W, 3), np.uint8)
    scene = _texture(rng, 150, 700)
    for t in range(FRAMES):
        picture = 30 + 200 * scene[:, 8 * t : 8 * t + 266]  # a pan across a scene
        shown, mask = _warp(picture, corners)
        frame = np.where(bezel_mask, 12.0, room)
        frame = np.where(mask, shown, frame)
        dy, dx = rng.integers(-shake, shake + 1, 2)
        frame = np.roll(frame, (int(dy), int(dx)), axis=(0, 1))
        frame = frame + flicker * np.sin(t * 1.9) + rng.normal(0, 3, frame.shape)
        out[t] = np.repeat(np.clip(frame, 0, 255)[:, :, None], 3, axis=2).astype(np.uint8)
    return out


TURNED_LEFT = np.array([(100, 70), (340, 50), (340, 200), (100, 180)], float)  # the far side shorter
TURNED_RIGHT = np.array([(110, 40), (330, 60), (330, 170), (110, 190)], float)


@pytest.mark.parametrize("corners", [TURNED_LEFT, TURNED_RIGHT], ids=["left", "right"])
def test_a_screen_filmed_at_an_angle_is_found_as_its_quadrilateral(corners):
    quad = detect_screen(_filmed_screen(1, corners), ScreenParams())
    assert quad is not None
    found = np.asarray(quad.corners)
    # The picture's own edge or the bezel's, up to 10 px out at a corner, or a mix of the two.
    assert np.abs(found - corners).max() <= 12, found.round()


def test_the_screen_is_found_without_the_shake_and_the_flicker():
    """A phone on a stand: no shake, so the outline shows only as the picture's steps."""
    quad = detect_screen(_filmed_screen(2, TURNED_LEFT, shake=0, flicker=0.0), ScreenParams())
    assert quad is not None and np.abs(np.asarray(quad.corners) - TURNED_LEFT).max() <= 12


def test_one_video_filling_the_frame_is_no_screen():
    rng = np.random.default_rng(3)
    scene = _texture(rng, H, W + 8 * FRAMES)
    frames = np.stack([np.repeat((30 + 200 * scene[:, 8 * t : 8 * t + W])[:, :, None], 3, axis=2) for t in range(FRAMES)])
    assert detect_screen(frames.astype(np.uint8), ScreenParams()) is None


def test_an_upright_window_is_left_to_the_windows_and_parts():
    """A rectangle is a crop, which ``regions`` and ``layouts`` already embed."""
    upright = np.array([(100, 50), (340, 50), (340, 190), (100, 190)], float)
    assert detect_screen(_filmed_screen(4, upright), ScreenParams()) is None


def test_the_params_are_read():
    frames = _filmed_screen(1, TURNED_LEFT)
    assert detect_screen(frames, ScreenParams(enabled=False)) is None
    assert detect_screen(frames, ScreenParams(max_slant=1.0)) is None  # its sides slant about 5 degrees


def test_rectify_maps_the_quadrilateral_back_upright():
    rng = np.random.default_rng(5)
    picture = 30 + 200 * _texture(rng, 150, 240, cell=16)
    shown, _ = _warp(picture, TURNED_LEFT)
    rgb = np.repeat(shown[:, :, None], 3, axis=2).astype(np.uint8)
    quad = Quad(tuple(map(tuple, TURNED_LEFT)))
    upright = rectify(rgb, quad)[:, :, 0].astype(np.float32)
    width, height = quad.shape()
    assert upright.shape == (height, width)
    original = np.asarray(Image.fromarray(picture.astype(np.float32), mode="F").resize((width, height), Image.BILINEAR))
    inner = (slice(4, -4), slice(4, -4))  # edges resample against the black outside
    assert np.corrcoef(upright[inner].ravel(), original[inner].ravel())[0, 1] > 0.9


def test_a_patch_of_edge_keeps_its_outline_and_thin_edges_side_by_side_stay():
    """``_border``: inside a thick patch of edge (a busy picture) no line is a side; its
    outline is, and so are two thin edges 4 px apart (a bezel's), and an edge at the end."""
    strong = np.zeros((40, 2), bool)
    strong[5:25, 0] = True  # a patch 20 lines thick
    strong[30, 0] = strong[34, 0] = True  # two thin edges
    strong[39, 1] = True  # at the far end
    border = _border(strong, clear=4)
    assert border[4:8, 0].all() and border[22:26, 0].all() and not border[8:22, 0].any()
    assert border[29:32, 0].all() and border[33:36, 0].all()
    assert border[38:, 1].all()
