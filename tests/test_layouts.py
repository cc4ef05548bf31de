"""Sub-frame layout parts (``video.layouts``) on hand-made windows of frames: two videos
side by side or stacked are cut at their seam, a video inside a still surround is found as
the moving region, and one video filling the frame has no parts."""

from __future__ import annotations

import numpy as np

from reeltrace.video.layouts import LayoutParams, detect_parts

FRAMES = 24


def _footage(seed: int, h: int, w: int) -> np.ndarray:
    """(FRAMES, h, w, 3) uint8: smooth texture panning, with a cut to a new texture at a
    random frame, like a shot of real footage."""
    rng = np.random.default_rng(seed)
    out = np.empty((FRAMES, h, w, 3), np.uint8)
    cut = int(rng.integers(6, 18))
    for shot, (start, stop) in enumerate(((0, cut), (cut, FRAMES))):
        big = rng.normal(size=(h // 8 + 8, w // 8 + 8))
        big = np.kron(big, np.ones((8, 8)))
        big = (big - big.min()) / (np.ptp(big) + 1e-9) * 200 + 20
        dy, dx = rng.integers(-3, 4, 2)
        for t in range(start, stop):
            y, x = 24 + dy * (t - start), 24 + dx * (t - start)
            grey = big[y % 40 : y % 40 + h, x % 40 : x % 40 + w]
            out[t] = np.repeat(grey[:, :, None], 3, axis=2).astype(np.uint8)
    return out


def test_two_videos_side_by_side_are_cut_at_their_seam():
    left, right = _footage(1, 252, 224), _footage(2, 252, 224)
    parts = detect_parts(np.concatenate([left, right], axis=2), LayoutParams())
    assert any(abs(p.right - 224) <= 12 and p.left == 0 for p in parts), parts
    assert any(abs(p.left - 224) <= 12 and p.right == 448 for p in parts), parts


def test_a_stitch_is_cut_between_its_top_and_bottom():
    top, bottom = _footage(3, 224, 252), _footage(4, 224, 252)
    parts = detect_parts(np.concatenate([top, bottom], axis=1), LayoutParams())
    assert any(abs(p.bottom - 224) <= 12 and p.top == 0 for p in parts), parts


def test_a_portrait_frame_always_has_its_halves_as_parts():
    """``portrait_halves``: a 9:16 frame whose halves move as one (no seam for a test to
    find, as where a handheld work sits above a dancing creator) still gets its top and
    bottom halves; a landscape frame does not, nor does the portrait frame with the rule off."""
    tall = _footage(31, 448, 252)
    halves = [(0, 224, 0, 252), (224, 448, 0, 252)]

    def boxes(frames, params):
        return [(p.top, p.bottom, p.left, p.right) for p in detect_parts(frames, params)]

    assert boxes(tall, LayoutParams())[:2] == halves
    assert not set(halves) & set(boxes(tall, LayoutParams(portrait_halves=0.0)))
    wide = boxes(_footage(31, 252, 448), LayoutParams())
    assert (0, 126, 0, 448) not in wide and (126, 252, 0, 448) not in wide


def test_a_player_in_a_still_page_is_the_moving_region():
    page = np.full((FRAMES, 252, 448, 3), 240, np.uint8)
    page[:, 20:30, 220:420] = 60  # lines of text: detail that never moves
    page[:, 50:60, 220:380] = 60
    page[:, 40:160, 10:200] = _footage(5, 120, 190)
    parts = detect_parts(page, LayoutParams())
    assert len(parts) == 1, parts
    part = parts[0]
    assert part.top <= 46 and part.bottom >= 150 and part.left <= 16 and 190 <= part.right <= 220, part


def test_one_video_filling_the_frame_mostly_has_no_parts():
    """A part found in one video is a crop of it: it costs a descriptor per instant and is
    one more chance for a look-alike (the bench's negatives bound that: 0 false works). The
    rules that find a still picture over still footage (``step_sides``, ``candidate_sides``)
    also find rectangles of this blocky texture in 7 of 24 windows (1 of 24 before them;
    30 of 57 windows of the bench's real single-video works, 26 before), and a frame edge
    for a side (``edge_sides``) in 9: bounded here, so that a rule that finds parts
    everywhere fails."""
    found = sum(bool(detect_parts(_footage(seed, 252, 448), LayoutParams())) for seed in range(6, 30))
    assert found <= 10, found


def test_a_still_picture_in_a_page_is_found_by_its_border_around_what_moves():
    """A talking head that barely moves (only its lips) in a web page: the moving region is
    the lips, and the part grows out to the picture's edges."""
    page = np.full((FRAMES, 252, 448, 3), 240, np.uint8)
    page[:, 20:30, 240:420] = 60
    y, x = np.mgrid[0:120, 0:190]
    still = 120 + 60 * np.sin(x / 13.0 + np.cos(y / 9.0)) * np.cos(y / 17.0)  # a face's shading: no straight edges
    picture = np.repeat(still[None, :, :, None], 3, axis=3).repeat(FRAMES, axis=0).astype(np.uint8)
    picture[:, 70:90, 80:120] = _footage(12, 20, 40)  # the lips move
    page[:, 40:160, 10:200] = picture
    parts = detect_parts(page, LayoutParams())
    assert any(p.top <= 46 and p.bottom >= 154 and p.left <= 16 and 194 <= p.right <= 210 for p in parts), parts


def test_a_grid_of_copies_of_one_video_is_cut_into_its_cells():
    """The work in the centre of a 3x3 grid whose eight other cells repeat one video: no
    seam runs between two copies (they change alike), so the cells are found as copies."""
    copy, work = _footage(13, 84, 148), _footage(14, 84, 148)
    rows = [np.concatenate([copy, copy, copy], axis=2), np.concatenate([copy, work, copy], axis=2),
            np.concatenate([copy, copy, copy], axis=2)]  # fmt: skip
    parts = detect_parts(np.concatenate(rows, axis=1), LayoutParams())
    assert any(abs(p.top - 84) <= 6 and abs(p.bottom - 168) <= 6 and abs(p.left - 148) <= 6 and abs(p.right - 296) <= 6
               for p in parts), parts  # fmt: skip


def test_one_smooth_gradient_across_the_frame_is_no_grid_of_copies():
    """End credits scrolling over a sky-blue gradient (the film's last minute): every cell
    holds the same smooth ramp, so their block patterns correlated as copies and the frame
    was taken for a 3x3 grid (nine parts, 1.5 times the scan). Copies must also keep a
    texture beyond a plane, or change together; a ramp does neither, the grid of copies
    above does both."""
    rng = np.random.default_rng(40)
    h, w = 252, 448
    ramp = np.linspace(40, 150, h)[:, None] + np.linspace(0, 20, w)[None, :]
    frames = np.repeat(np.repeat(ramp[None, :, :, None], FRAMES, 0), 3, 3) + rng.normal(0, 3, (FRAMES, h, w, 1))
    for t in range(FRAMES):
        for line in range(6):
            y = 200 - 6 * t + 30 * line
            if 0 <= y < h - 4:
                frames[t, y : y + 4, 180:270] = 230
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    cells = {(r * h // 3, (r + 1) * h // 3, c * w // 3, (c + 1) * w // 3) for r in range(3) for c in range(3)}

    def boxes(params):
        return {(p.top, p.bottom, p.left, p.right) for p in detect_parts(frames, params)}

    assert cells <= boxes(LayoutParams(tile_texture=0.0))  # the fault, as it was
    assert not cells & boxes(LayoutParams())


def test_a_row_too_long_for_one_video_is_cut_into_16_9_cells():
    from reeltrace.video.layouts import _video_shaped
    from reeltrace.video.regions import Box

    assert [(b.left, b.right) for b in _video_shaped(Box(0, 84, 0, 448), LayoutParams())] == [(0, 149), (149, 298), (298, 448)]
    assert _video_shaped(Box(0, 252, 0, 224), LayoutParams()) == [Box(0, 252, 0, 224)]


def _still_page_over_water(ripple: float, noise: float) -> np.ndarray:
    """A bright page that barely changes (a cursor moves on it) in the bottom-left corner,
    14 px from the edges, over footage of water: a smooth gradient whose light ripples by
    ``ripple`` grey levels, under a striped band (a rolling shutter's) along the top."""
    rng = np.random.default_rng(11)
    out = np.empty((FRAMES, 252, 448, 3), np.uint8)
    base = np.linspace(60, 140, 252)[:, None] + np.zeros((1, 448))
    stripes = np.arange(40)[:, None] % 6 < 3
    page = np.full((146, 170), 235.0)
    page[20:30, 15:150], page[50:110, 15:80], page[60:70, 95:160] = 70, 120, 70
    for t in range(FRAMES):
        img = base + ripple * np.sin(np.arange(448)[None, :] / 9 + t / 2) + rng.normal(0, noise, (252, 448))
        img[:40] = np.where(stripes, 30 + 20 * np.sin(t + np.arange(448) / 15)[None, :],
                            170 + 20 * np.cos(t * 1.3 + np.arange(448) / 11)[None, :])  # fmt: skip
        out[t] = np.clip(img, 0, 255)[:, :, None].astype(np.uint8)
        p = page.copy()
        p[120:130, 20 + t : 60 + t] = 40
        out[t, 90:236, 14:184] = p[:, :, None]
    return out


def _has_page(parts) -> bool:
    return any(abs(p.top - 90) <= 6 and abs(p.bottom - 236) <= 6 and abs(p.left - 14) <= 6 and abs(p.right - 184) <= 6 for p in parts)


def test_a_still_picture_over_footage_that_barely_moves_is_found_by_its_edges():
    """Little changes on either side of the page's edges, so no cut marks them; they are
    straight steps of the window's mean picture (``step_sides``)."""
    frames = _still_page_over_water(ripple=0.8, noise=0.4)
    assert _has_page(detect_parts(frames, LayoutParams())), detect_parts(frames, LayoutParams())
    assert not _has_page(detect_parts(frames, LayoutParams(step_sides=False)))


def test_a_striped_band_does_not_take_every_candidate_side():
    """The band's many lines cut more than the page's sides; with 6 candidates over the
    whole length and 3 per third, all were the band's (``candidate_sides``)."""
    frames = _still_page_over_water(ripple=3.0, noise=1.0)
    assert _has_page(detect_parts(frames, LayoutParams())), detect_parts(frames, LayoutParams())
    assert not _has_page(detect_parts(frames, LayoutParams(candidate_sides=(6, 3))))


def test_a_window_is_found_when_a_moving_thing_inside_it_cuts_better():
    """A still picture (a room) in which one thing moves, in its corner (hands at work),
    over moving footage: the moving thing's own edges cut along their whole length, and
    share two sides with the window, whose top side runs in part along a still wall of its
    own shade. The thing's rectangle is then the best, and the window the next
    (``LayoutParams.rectangles``): with one rectangle, 4 of these 6 windows were lost."""
    for seed in range(6):
        frame = _footage(40 + seed, 252, 448).copy()
        y, x = np.mgrid[0:140, 0:240]
        still = 120 + 60 * np.sin(x / 13.0 + np.cos(y / 9.0)) * np.cos(y / 17.0)
        picture = np.repeat(still[None, :, :, None], 3, axis=3).repeat(FRAMES, axis=0).astype(np.uint8)
        picture[:, 80:140, 150:240] = _footage(60 + seed, 60, 90)  # the moving thing, in the corner
        frame[:, 40:180, 60:300] = picture
        frame[:, 0:40, 40:150] = picture[0, 0, 0]  # the still wall above the top side's left third
        parts = detect_parts(frame, LayoutParams())
        assert any(abs(p.top - 40) <= 4 and abs(p.bottom - 180) <= 4 and abs(p.left - 60) <= 4 and abs(p.right - 300) <= 4
                   for p in parts), (seed, parts)  # fmt: skip


def test_a_window_cut_off_by_the_frame_s_edge_is_found_by_its_three_sides():
    """A work taller (or wider) than its place runs off the frame: its window over other
    footage shows three sides, and the frame's edge is the fourth (``edge_sides``). Without
    it none of these 24 windows (8 along each of three edges) is found; with it 12 are (the
    others lose their place to rectangles of this blocky texture with four sides)."""
    placed = [(0, 150, 120, 360), (60, 200, 0, 230), (120, 252, 200, 420)]  # at the top, the left, the bottom
    found = _windows_found(placed, 70, {rule: LayoutParams(edge_sides=rule) for rule in (False, True)})
    assert found[False] == 0 and found[True] >= 10, found


def _windows_found(placed: list[tuple[int, int, int, int]], seed: int, variants: dict) -> dict:
    """For each of ``variants`` (LayoutParams), how many of the windows ``placed`` (top,
    bottom, left, right) over footage, 8 seeds each, a part finds within 4 px."""
    found = dict.fromkeys(variants, 0)
    for (top, bottom, left, right), k in ((box, k) for box in placed for k in range(8)):
        frame = _footage(seed + k, 252, 448).copy()
        frame[:, top:bottom, left:right] = _footage(seed + 20 + k, bottom - top, right - left)
        for name, params in variants.items():
            found[name] += any(abs(p.top - top) <= 4 and abs(p.bottom - bottom) <= 4 and abs(p.left - left) <= 4
                               and abs(p.right - right) <= 4 for p in detect_parts(frame, params))  # fmt: skip
    return found


def test_a_window_running_off_the_frame_beside_strips_of_footage_is_a_part():
    """A window that runs off the frame's top, with strips of the footage behind it between
    its sides and the frame's other edges: the strips' short rectangles cut as well as the
    window's three sides. The three-sided rectangle that cuts over the most length is a
    part too (``edge_by_length``): measured 12 of these 32 windows found with it, 9 without."""
    placed = [(0, 200, 200, 420), (0, 220, 24, 240), (0, 230, 220, 430), (30, 252, 20, 230)]
    found = _windows_found(placed, 110, {rule: LayoutParams(edge_by_length=rule) for rule in (False, True)})
    assert found[True] >= found[False] + 2, found


def test_a_line_that_passes_in_different_ways_along_it_is_a_seam():
    """Beside a pillarboxed work's cell a grid's line runs past still bars: there it is
    one-sided (one side moves), and along the other cells it decorrelates. Neither test
    alone covered the line; counted together (``seam_mixed``) they do."""
    from reeltrace.video.layouts import _Across, _seams

    rng = np.random.default_rng(60)
    n, length, side = 24, 126, 224
    corr = np.full((length, side - 2), 0.9)
    moving = np.ones((length, side - 2), bool)
    one_sided = np.zeros((length, side - 2), bool)
    at = 75  # a third of the side
    corr[: length // 2, at] = 0.0  # the other cells: both sides move, independently
    moving[length // 2 :, at] = False  # the work's bars: one side holds still
    one_sided[length // 2 :, at] = True
    across = _Across(corr, moving, 0.9, one_sided)
    diff = rng.normal(size=(n - 1, length, side)).astype(np.float32)  # strips that change independently
    grey = np.zeros((n, length, side), np.float32)  # no edge anywhere
    assert _seams(diff, grey, across, LayoutParams()) == [at + 1]  # a seam lies between the pixels compared
    assert not _seams(diff, grey, across, LayoutParams(seam_mixed=False))


def test_a_line_independent_along_one_third_is_a_seam_beside_a_grid_s_other_line():
    """A grid whose other cells show one video at other instants: the strips either side of
    a line share that video's pace along two thirds of it and differ only beside the work's
    cell (``seam_thirds``). Such a line counts where the axis has a line independent whole
    (the grid's other line); alone, it is no seam: in one video, that is a person moving on
    one side of the frame's half."""
    from reeltrace.video.layouts import _Across, _seams

    rng = np.random.default_rng(61)
    n, length, side = 24, 126, 224
    corr = np.full((length, side - 2), 0.9)
    corr[:, [74, 149]] = 0.0  # two lines across which the pixels' changes decorrelate
    across = _Across(corr, np.ones((length, side - 2), bool), 0.9, np.zeros((length, side - 2), bool))
    grey = np.zeros((n, length, side), np.float32)  # no edge anywhere
    pace, work, other = (rng.uniform(1, 10, n - 1) for _ in range(3))
    diff = np.ones((n - 1, length, side), np.float32) * pace[:, None, None]
    third = 150  # the line near two thirds: independent beside the work's cell only
    diff[:, 2 * length // 3 :, third:] = work[:, None, None]
    assert _seams(diff, grey, across, LayoutParams(seam_positions=(2 / 3,))) == []
    diff[:, :, :75] = other[:, None, None]  # a line near a third, independent whole
    found = _seams(diff, grey, across, LayoutParams(seam_positions=(1 / 3, 2 / 3)))
    assert found == [75, third], found
    assert len(_seams(diff, grey, across, LayoutParams(seam_positions=(1 / 3, 2 / 3), seam_thirds=False))) == 1
