"""Picture + sound fusion through the Library API, on generated media.

A video work (textured moving picture, synthetic music soundtrack) and an audio-only work
(synthetic music in a .wav) are registered in one library. Queries reuse the same 10 s
stretch with both tracks, with the picture replaced, with the sound replaced, as sound
alone, and a new video whose soundtrack is the audio-only work. Every file is encoded
with PyAV and decoded again by the library: nothing is mocked.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import audiogen as G
import mediagen as M
from reeltrace.library import Library
from reeltrace.fuse import fuse
from reeltrace.records import AudioEvidence, Segment

SECONDS = 30.0
START, LENGTH = 8.0, 10.0  # the reused stretch of the video work
RATE = 48000


def _stereo(y: np.ndarray) -> np.ndarray:
    return np.stack([y, 0.8 * y]).astype(np.float32)


def _music(seed: int, seconds: float) -> np.ndarray:
    return G.music(seed, seconds, RATE)


def _frames(seed: int, style: str, start: float, length: float) -> list[np.ndarray]:
    first, n = int(start * M.FPS), int(length * M.FPS)
    return list(itertools.islice(M.work_frames(seed, SECONDS, style), first, first + n))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fusion")
    sound = _music(31, SECONDS)
    song = _music(32, SECONDS)
    video_work = M.write_video(str(folder / "work.mp4"), M.work_frames(1, SECONDS, "noise"), audio=_stereo(sound))
    song_work = G.write(str(folder / "song.wav"), song, rate=RATE)
    lib = Library(str(folder / "lib"))
    v = lib.register(video_work, category="film")
    s = lib.register(song_work, category="audio")
    assert v.error is None and s.error is None, (v.error, s.error)
    assert v.work.has_video and v.work.has_audio and s.work.has_audio and not s.work.has_video
    a, b = int(START * RATE), int((START + LENGTH) * RATE)
    yield {
        "folder": folder,
        "lib": lib,
        "video": v.work,
        "song": s.work,
        "picture": _frames(1, "noise", START, LENGTH),
        "other_picture": _frames(7, "julia", 0.0, LENGTH),
        "sound": sound[a:b],
        "other_sound": _music(33, LENGTH),
        "song_part": song[int(5 * RATE) : int(15 * RATE)],
    }
    lib.close()


def _match(result, work):
    assert result.error is None, result.error
    found = [m for m in result.matches if m.work.work_id == work.work_id]
    assert found, f"{work.work_id} not found; matches: {[(m.work.work_id, m.modality, m.score) for m in result.matches]}"
    return found[0]


def _near(seg, work_start: float) -> bool:
    """The segment maps its query start to the right work time (within 1 s)."""
    return abs(seg.work_start - (work_start + seg.query_start * seg.speed)) <= 1.0


def test_picture_and_sound_fuse(env):
    q = M.write_video(str(env["folder"] / "both.mp4"), env["picture"], audio=_stereo(env["sound"]))
    m = _match(env["lib"].scan(q), env["video"])
    assert m.modality == "audio+video"
    fused = [s for s in m.segments if s.modality == "audio+video"]
    assert len(fused) == 1, m.segments
    assert _near(fused[0], START)
    # The fused segment spans most of the query and nothing of the stretch is left unfused.
    assert fused[0].query_end - fused[0].query_start >= 0.6 * LENGTH
    assert not [s for s in m.segments if s.modality != "audio+video" and s.query_end - s.query_start > 2.0], m.segments


def test_picture_replaced_matches_by_sound(env):
    q = M.write_video(str(env["folder"] / "newpicture.mp4"), env["other_picture"], audio=_stereo(env["sound"]))
    m = _match(env["lib"].scan(q), env["video"])
    assert m.modality == "audio"
    assert all(s.modality == "audio" for s in m.segments)
    assert _near(m.segments[0], START)


def test_sound_replaced_matches_by_picture(env):
    q = M.write_video(str(env["folder"] / "newsound.mp4"), env["picture"], audio=_stereo(env["other_sound"]))
    m = _match(env["lib"].scan(q), env["video"])
    assert m.modality == "video"
    assert all(s.modality == "video" for s in m.segments)
    assert any(_near(s, START) for s in m.segments)


def test_audio_only_query_finds_video_work(env):
    q = G.write(str(env["folder"] / "excerpt.m4a"), env["sound"], rate=RATE)
    result = env["lib"].scan(q)
    m = _match(result, env["video"])
    assert m.modality == "audio"
    assert _near(m.segments[0], START)
    assert [x.work.work_id for x in result.matches] == [env["video"].work_id]


def test_audio_work_found_in_video_soundtrack(env):
    q = M.write_video(str(env["folder"] / "usessong.mp4"), env["other_picture"], audio=_stereo(env["song_part"]))
    result = env["lib"].scan(q)
    m = _match(result, env["song"])
    assert m.modality == "audio"
    assert _near(m.segments[0], 5.0)
    assert env["video"].work_id not in [x.work.work_id for x in result.matches]


def _seg(q0, q1, w0, score, modality):
    return Segment(q0, q1, w0, w0 + (q1 - q0), score, modality=modality,
                   audio=AudioEvidence(hits=10) if modality == "audio" else None)


def test_sound_repeats_of_a_placed_stretch_are_dropped():
    # A looped soundtrack matches the query at the right place and at two repeats; the
    # picture places the query at work 20 s.
    video = [_seg(0.0, 10.0, 20.0, 0.99, "video")]
    audio = [_seg(0.0, 10.0, 20.2, 0.98, "audio"), _seg(0.0, 10.0, 30.0, 0.99, "audio"), _seg(1.0, 9.0, 5.0, 0.9, "audio")]
    modality, segments = fuse(video, audio)
    assert modality == "audio+video"
    assert [(s.modality, round(s.work_start, 1)) for s in segments] == [("audio+video", 20.0)]


def test_sound_only_keeps_one_place_per_query_instant():
    audio = [_seg(0.0, 10.0, 30.0, 0.95, "audio"), _seg(0.5, 10.0, 10.0, 0.99, "audio"), _seg(12.0, 20.0, 50.0, 0.9, "audio")]
    modality, segments = fuse([], audio)
    assert modality == "audio"
    assert [round(s.work_start, 1) for s in segments] == [10.0, 50.0]
