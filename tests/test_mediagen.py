"""The test media generator itself: the ground truth the other tests rely on holds."""

from __future__ import annotations

import mediagen
import numpy as np
import pytest

SIZE = (160, 90)


def _frames(seed: int, style: str, n: int = 10) -> np.ndarray:
    frames = mediagen.work_frames(seed, 3.0, style, size=SIZE)
    return np.stack([next(frames) for _ in range(n)])


@pytest.mark.parametrize("style", list(mediagen.STYLES))
def test_same_seed_gives_the_same_pictures_and_another_seed_different_ones(style):
    a, b, c = _frames(5, style), _frames(5, style), _frames(6, style)
    assert a.shape == (10, SIZE[1], SIZE[0], 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 20
    # The camera moves: samples 0.4 s apart differ.
    assert np.abs(a[0].astype(int) - a[-1].astype(int)).mean() > 3


def test_edits_do_what_they_say():
    rng = np.random.default_rng(0)
    rgb = rng.integers(30, 226, (90, 160, 3), dtype=np.uint8)
    assert np.array_equal(mediagen.mirror(rgb, (160, 90)), rgb[:, ::-1])
    boxed = mediagen.letterbox(rgb, (160, 90))
    assert boxed[:8].max() == 0 and boxed[-8:].max() == 0 and boxed[:, :16].max() == 0
    assert boxed[45, 80].max() > 0
    tall = mediagen.vertical(rgb, (90, 160))
    assert tall.shape == (160, 90, 3)
    band = (160 - 50) // 2  # 90 wide at 16:9 -> a band 50 high in the middle
    assert np.array_equal(tall[band + 5 : band + 45], mediagen.fit(rgb, (90, 50))[5:45])
    assert np.abs(np.diff(tall[:band].astype(int), axis=1)).mean() < 10  # blurred background
    assert mediagen.crop20(rgb, (160, 90)).shape == (90, 160, 3)


def test_query_truth_matches_the_frames_written(tmp_path):
    """build_query puts each clip where its Truth says, at the right speed."""
    src = mediagen.make_work(str(tmp_path / "src.mp4"), 3, 6.0, "noise", size=SIZE)
    clips = [mediagen.Clip(src, 1.0, 1.0, label="plain"), mediagen.Clip(src, 2.0, 2.0, speed=1.5, label="fast")]
    truths = mediagen.build_query(str(tmp_path / "q.mp4"), clips, size=SIZE)
    assert [(t.query_start, t.query_end) for t in truths] == [(0.0, 1.0), (1.0, 3.0)]
    assert (truths[1].work_start, truths[1].work_end) == (2.0, 5.0)
    assert truths[1].work_time(2.0) == pytest.approx(3.5)
    source = mediagen.read_frames(src)
    query = mediagen.read_frames(str(tmp_path / "q.mp4"))
    assert len(query) == 3 * mediagen.FPS

    def close(a, b):
        return np.abs(a.astype(int) - b.astype(int)).mean() < 6

    fps = mediagen.FPS
    assert close(query[0], source[fps])  # plain clip starts at work 1.0 s
    assert close(query[fps + 10], source[2 * fps + 15])  # 10 frames into the 1.5x clip = work +15 frames
    assert not close(query[fps + 10], source[2 * fps + 10])
