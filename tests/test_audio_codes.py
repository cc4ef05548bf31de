"""Spectral-shape codes (``reeltrace.audio.codes``): stage tests on generated sound, and
their path through the score, the records, the library and features files."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import audiogen as G
from reeltrace.audio import landmarks as A
from reeltrace.audio.codes import agreement, read_along, work_codes
from reeltrace.audio.config import AudioConfig
from reeltrace.audio.evidence import QueryEvidence
from reeltrace.audio.records import AudioFingerprint
from reeltrace.audio.score import calibrated_score

R = G.RATE
CONFIG = AudioConfig()
START, SECONDS = 12.3, 5.0


@pytest.fixture(scope="module")
def work():
    y = G.music(21, 40.0)
    return y, work_codes(G.resample(y, R, CONFIG.spectrum.rate), CONFIG)


def _read(query: np.ndarray, codes: np.ndarray, speed: float, offset: float, pitch: float = 1.0, config=CONFIG) -> float:
    evidence = QueryEvidence(query, R, config)
    return read_along(evidence, codes, speed, offset, pitch, 0.0, evidence.duration, config)


def test_a_work_has_one_code_per_64_ms(work):
    y, codes = work
    assert codes.dtype == np.uint32
    assert len(codes) == pytest.approx(len(y) / R / 0.064, abs=8)  # less the first window
    # Not degenerate: bits of both values, and codes that change from step to step.
    bits = np.unpackbits(codes.view(np.uint8))
    assert 0.3 < bits.mean() < 0.7
    assert np.mean(codes[1:] != codes[:-1]) > 0.9


def test_registering_takes_the_codes_from_the_spectrum_of_the_peaks(work):
    """``fingerprint`` reads its codes off the spectrum chunks its peaks are picked on
    (overlapping by ``peak_dt`` frames); they must be the codes of the work's own spectrum,
    across chunk edges (40 s is two chunks of 2048 frames) and for a work shorter than
    one window."""
    y, codes = work
    assert np.array_equal(A.fingerprint(y, R, CONFIG).codes, codes)
    assert len(codes) > CONFIG.spectrum.chunk // CONFIG.codes.step  # the second chunk is coded
    short = y[: int(0.2 * R)]
    assert len(A.fingerprint(short, R, CONFIG).codes) == 0 == len(work_codes(G.resample(short, R, CONFIG.spectrum.rate), CONFIG))
    off = replace(CONFIG, codes=replace(CONFIG.codes, enabled=False))
    assert len(A.fingerprint(y, R, off).codes) == 0


@pytest.mark.parametrize("name,edit", [
    ("clean", lambda y: y),
    ("quiet and band-limited", lambda y: G.band_limit(y) * 10 ** (-20 / 20)),
    ("noise 0 dB", lambda y: G.noise(y, 0.0)),
    ("music bed 6 dB above", lambda y: G.mix(y, G.music(78, 10), 6.0)),
])  # fmt: skip
def test_codes_agree_along_the_true_line_only(work, name, edit):
    """Read along the true alignment, the codes of an edited excerpt stand far above what
    the same codes give along wrong alignments (about 0 +- 2: unrelated sound)."""
    y, codes = work
    query = edit(y[int(START * R) : int((START + SECONDS) * R)])
    true = _read(query, codes, 1.0, START)
    wrong = [_read(query, codes, 1.0, START + d) for d in (-9.1, -2.7, 3.9, 11.4)]
    assert max(wrong) < 5.0, (name, wrong)
    assert true > max(wrong) + 6.0, (name, true, wrong)


def test_a_speed_change_is_undone_before_the_bits_are_compared(work):
    """A copy played 1.25x fast (pitch up with it) agrees along its own line, work time =
    1.25 query time and work frequency = query frequency / 1.25, and not when read as if
    at native speed."""
    y, codes = work
    query = G.speed(y[int(START * R) : int((START + 1.25 * SECONDS) * R)], 1.25)
    along = _read(query, codes, 1.25, START, 1 / 1.25)
    assert along > 15.0, along
    assert _read(query, codes, 1.0, START) < along / 3


def test_agreement_is_a_z_score_of_the_bit_error_rate():
    assert agreement(50, 100) == 0.0
    assert agreement(0, 100) == pytest.approx(10.0)
    assert agreement(25, 100) == pytest.approx(5.0)
    assert agreement(0, 0) == 0.0


def test_no_codes_no_spectral_evidence(work):
    """A work registered before the codes existed has none, and reads 0 (the landmarks alone
    decide, as they did); so does a config with the codes turned off."""
    y, codes = work
    query = y[int(START * R) : int((START + SECONDS) * R)]
    assert _read(query, np.zeros(0, np.uint32), 1.0, START) == 0.0
    off = replace(CONFIG, codes=replace(CONFIG.codes, enabled=False))
    assert _read(query, codes, 1.0, START, config=off) == 0.0
    assert len(A.fingerprint(y, R, off).codes) == 0


def test_spectral_evidence_claims_from_its_own_bar():
    """``spectral + spectral_verified * verified`` claims from ``spectral_bar`` whatever the
    pairs; without codes (0) nothing changes."""
    model = CONFIG.score
    threshold = CONFIG.threshold
    verified = 10.0
    at_bar = model.spectral_bar - model.spectral_verified * verified
    assert calibrated_score(1, 0.0, verified, model, at_bar - 1.0) < threshold <= calibrated_score(1, 0.0, verified, model, at_bar + 0.5)
    assert calibrated_score(1, 0.0, verified, model, 0.0) == calibrated_score(1, 0.0, verified, model)
    assert calibrated_score(1, 0.0, verified, replace(model, c_verified=0.0), at_bar + 50.0) < threshold


def test_codes_round_trip_through_records_the_index_cache_and_features_files(work, tmp_path):
    from reeltrace.audio.index import AudioIndex
    from reeltrace.features import FeaturesFile, read, write

    y, codes = work
    fp = A.fingerprint(y, R)
    np.testing.assert_array_equal(fp.codes, codes)
    back = AudioFingerprint.from_dict(json.loads(json.dumps(fp.to_dict())))
    assert back.codes.dtype == np.uint32
    np.testing.assert_array_equal(back.codes, fp.codes)
    index = AudioIndex()
    index.add(7, fp)
    index.add(8, replace(fp, codes=np.zeros(0, np.uint32)))
    again = AudioIndex.from_bytes(index.to_bytes())
    np.testing.assert_array_equal(again.codes(7), codes)
    assert len(again.codes(8)) == 0
    meta = {"model": "m", "dim": 2, "sample_fps": 2.0, "content_hash": "0" * 64, "duration": len(y) / R,
            "fingerprint_version": 2, "title": "t", "source_path": "t.wav"}  # fmt: skip
    path = str(tmp_path / "w.npz")
    write(path, FeaturesFile(np.zeros(0, np.float32), np.zeros((0, 2), np.float32), fp, meta))
    got = read(path, "m", 2, 2.0, 2)
    np.testing.assert_array_equal(got.audio.codes, codes)


def test_a_library_stores_codes_and_claims_a_copy_they_verify(tmp_path):
    """Through the library: a registered track keeps its codes (database, index cache), and
    a 5 s excerpt under a music bed 6 dB above it is found, with its codes agreeing; a
    library whose works were registered without codes (before them) still finds it by
    its landmarks when they suffice, and its segments read no codes."""
    from reeltrace.library import Library

    y = G.music(31, 40.0)
    track = G.write(str(tmp_path / "track.wav"), y)
    clean = G.write(str(tmp_path / "clean.wav"), y[int(START * R) : int((START + SECONDS) * R)])
    bed = G.write(str(tmp_path / "bed.wav"), G.mix(y[int(START * R) : int((START + SECONDS) * R)], G.music(78, 10), 6.0))
    with Library(str(tmp_path / "lib")) as lib:
        key = lib.register(track, category="audio").work.key
        stored = lib.audio_index().codes(key)
        assert len(stored) > 500
        # The library decodes the file with FFmpeg's resampler: a few bits differ.
        mine = work_codes(G.resample(y, R, CONFIG.spectrum.rate), CONFIG)
        n = min(len(stored), len(mine))
        assert abs(len(stored) - len(mine)) <= 1
        assert np.unpackbits((stored[:n] ^ mine[:n]).view(np.uint8)).mean() < 0.05
        result = lib.scan(bed, trace=True)
        assert [m.work.key for m in result.matches] == [key]
        best = max(result.trace.audio[key], key=lambda s: s.score)
        assert best.audio.spectral > 5.0 and abs(best.work_start - (START + best.query_start)) < 0.5
    off = replace(CONFIG, codes=replace(CONFIG.codes, enabled=False))
    with Library(str(tmp_path / "old"), audio=off) as old:
        old_key = old.register(track, category="audio").work.key
    with Library(str(tmp_path / "old")) as old:
        assert len(old.audio_index().codes(old_key)) == 0
        result = old.scan(clean, trace=True)
        assert [m.work.key for m in result.matches] == [old_key]
        assert all(s.audio.spectral == 0.0 for s in result.trace.audio[old_key])


def _tone(seconds: float, hz: float = 1000.0) -> np.ndarray:
    return (0.1 * np.sin(2 * np.pi * hz * np.arange(int(seconds * R)) / R)).astype(np.float32)


def test_silence_and_a_steady_tone_are_not_compared(tmp_path):
    """Digital silence and a steady tone change nothing from row to row: their bits would
    agree with any silence or tone of a work, at any alignment. Their slope changes are
    under ``CodeParams.flat`` and are not compared, so a leader tone shared by unrelated
    works claims none of them (a review found such a query claimed at score 1.0)."""
    from reeltrace.library import Library

    rate = CONFIG.spectrum.rate
    for signal in (np.zeros(20 * R, np.float32), _tone(20.0)):
        codes = work_codes(G.resample(signal, R, rate), CONFIG)
        assert len(codes)
        assert _read(signal[: 5 * R], codes, 1.0, 3.0) == 0.0
    with Library(str(tmp_path / "lib")) as lib:
        for seed in (1, 2, 3):
            lib.register(G.write(str(tmp_path / f"w{seed}.wav"), np.concatenate([_tone(8.0), G.music(seed, 30.0)])), category="audio")
        for seed in (50, 51):
            query = np.concatenate([G.music(seed, 6.0), _tone(5.0), G.music(seed + 100, 6.0)])
            result = lib.scan(G.write(str(tmp_path / f"q{seed}.wav"), query), trace=True)
            assert result.matches == [], [(m.work.title, m.score) for m in result.matches]
            assert all(s.audio.spectral < 5.0 for segs in result.trace.audio.values() for s in segs)


def test_an_index_cache_written_before_the_codes_is_not_read(work):
    """A cache without the codes' arrays would hide the codes the database holds: reading
    it fails, and ``load_audio_index`` rebuilds the index from the database instead."""
    import io

    from reeltrace.audio.index import AudioIndex

    y, _ = work
    fp = A.fingerprint(y, R)
    buf = io.BytesIO()
    np.savez(buf, keys=np.array([7], np.int64), counts=np.array([len(fp.hashes)], np.int64), hashes=fp.hashes, times=fp.times)
    with pytest.raises(ValueError, match="codes"):
        AudioIndex.from_bytes(buf.getvalue())
