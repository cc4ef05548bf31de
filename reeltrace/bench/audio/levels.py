"""Overlay levels of a finished audio run.

The bench sets an overlay's level by RMS over the whole band. What the fingerprint hears
is the band it reads (``SpectrumParams.f_min..f_max``, 94 Hz-3.9 kHz): a work whose energy
sits in the bass under a bright music bed "+6 dB" can be 15 dB under it there.
``overlay_levels`` breaks the mixed edits' results down by that in-band level, and plays
the overlay queries again with the same excerpt and the same overlay at lower levels: a
controlled level curve.
"""

from __future__ import annotations

import json
import os
import tempfile
import wave

import numpy as np

from ...audio.config import SpectrumParams
from ...media.sound import decode_audio
from .dataset import EDITS, Edit, audio_info

LEVEL_BINS = (-np.inf, 0.0, 6.0, 12.0, np.inf)  # dB of overlay (or noise) over the work, in band
REMIX_DB = (0.0, 3.0, 6.0)  # overlay levels (over the work, RMS as the bench sets them) replayed; 6: the control


def aligned_excerpt(query: np.ndarray, work: np.ndarray, start: float, rate: int) -> np.ndarray | None:
    """The stretch of ``work`` that ``query`` (rendered from ``start``) holds, found within
    5 ms of ``start`` by cross-correlation (the render's seek lands near it); None where
    it runs off the work."""
    n, s0 = len(query), int(round(start * rate))
    shifts = [d for d in range(-rate // 200, rate // 200 + 1) if s0 + d >= 0 and s0 + d + n <= len(work)]
    if not shifts:
        return None
    d = max(shifts, key=lambda d: float(np.dot(work[s0 + d : s0 + d + n], query)))
    return work[s0 + d : s0 + d + n]


def in_band_level(overlay: np.ndarray, work: np.ndarray, rate: int, spectrum: SpectrumParams = SpectrumParams()) -> float:
    """dB of ``overlay`` over ``work`` (same length, sampled at ``rate``) in the
    fingerprint's band (``spectrum.f_min..f_max``)."""
    freq = np.fft.rfftfreq(len(work), 1 / rate)
    band = (freq >= spectrum.f_min * spectrum.rate / spectrum.n_fft) & (freq <= spectrum.f_max * spectrum.rate / spectrum.n_fft)
    energy = lambda x: float(np.sum(np.abs(np.fft.rfft(x)[band]) ** 2)) + 1e-12  # noqa: E731
    return 10 * np.log10(energy(overlay) / energy(work))


def _write_wav(path: str, samples: np.ndarray, rate: int) -> None:
    samples = samples / max(1.0, float(np.max(np.abs(samples))))  # a mix may exceed full scale
    pcm = np.rint(samples * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def overlay_levels(run_dir: str, remix_db: tuple[float, ...] = REMIX_DB) -> list[dict]:
    """Top-1 of a finished run's mixed edits (noise or overlay; native speed, lossless)
    per length: by in-band level bin (``bins``: ``[lo, hi, n, top1]``), and for overlays
    replayed at each of ``remix_db`` through the run's library (``remix``: ``{db: [n, top1]}``)."""
    from ...library import Library  # here, not above: importing it loads the video chain (onnxruntime, FAISS)

    with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as f:
        queries = json.load(f)["queries"]
    edits = {e.name: e for e in EDITS}
    work: tuple[str, np.ndarray] = ("", np.zeros(0))  # the last source decoded: queries come source by source
    cells: dict[tuple[str, float], dict] = {}
    with Library(os.path.join(run_dir, "library")) as lib, tempfile.TemporaryDirectory() as tmp:
        key_of = {os.path.realpath(w.source_path): w.key for w in lib.works()}  # the library stores paths resolved
        remix = os.path.join(tmp, "remix.wav")
        for q in queries:
            edit = edits.get(q["edit"])
            if q["truth"] is None or edit is None or not edit.mix or edit.speed != 1.0 or edit.codec != Edit("").codec:
                continue
            # At the source's own rate, where the query was cut: the excerpt then lines up to
            # the sample (at 8 kHz a fraction of a sample off leaves the work in the difference).
            info = audio_info(q["truth"])
            if info is None:
                continue  # the source is gone since the run
            rate = info[1]
            if work[0] != q["truth"]:
                work = (q["truth"], decode_audio(q["truth"], rate)[0])
            query = decode_audio(q["path"], rate)[0]
            ref = aligned_excerpt(query, work[1], q["start"], rate)
            if ref is None:
                continue
            cell = cells.setdefault((q["edit"], q["length"]), {
                "bins": [[lo, hi, 0, 0] for lo, hi in zip(LEVEL_BINS, LEVEL_BINS[1:])], "remix": {db: [0, 0] for db in remix_db}})  # fmt: skip
            level = in_band_level(query - ref, ref, rate)
            b = next(b for b in cell["bins"] if b[0] < level <= b[1])
            b[2] += 1
            b[3] += bool(q["result"]["top1"])
            if edit.mix[0] != "overlay":
                continue
            truth_key = key_of.get(os.path.realpath(q["truth"]))
            for db in remix_db:
                _write_wav(remix, ref + (query - ref) * 10 ** ((db - edit.mix[2]) / 20), rate)
                res = lib.scan(remix)
                cell["remix"][db][0] += 1
                cell["remix"][db][1] += bool(res.matches and res.matches[0].work.key == truth_key)
    order = {e.name: i for i, e in enumerate(EDITS)}
    return [dict(edit=e, length=L, **c) for (e, L), c in sorted(cells.items(), key=lambda c: (order[c[0][0]], c[0][1]))]


def levels_markdown(rows: list[dict]) -> str:
    head = [f"<= {hi:g} dB" if lo == -np.inf else f"> {lo:+g} dB" if hi == np.inf else f"{lo:+g}..{hi:+g} dB"
            for lo, hi in zip(LEVEL_BINS, LEVEL_BINS[1:])]  # fmt: skip
    lines = ["| edit | length | " + " | ".join(head) + " |", "|---|---|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{top1}/{n}" if n else "-" for _, _, n, top1 in r["bins"]]
        lines.append(f"| {r['edit']} | {r['length']:g} s | " + " | ".join(cells) + " |")
    out = "Top-1 by the overlay's level over the work inside 94 Hz-3.9 kHz:\n\n" + "\n".join(lines)
    remixed = [r for r in rows if any(n for n, _ in r["remix"].values())]
    if remixed:
        dbs = sorted({db for r in remixed for db in r["remix"]})
        lines = ["| edit | length | " + " | ".join(f"{db:+g} dB" for db in dbs) + " | as rendered |",
                 "|---|---|" + "---|" * (len(dbs) + 1)]  # fmt: skip
        for r in remixed:
            n = sum(b[2] for b in r["bins"])
            lines.append(f"| {r['edit']} | {r['length']:g} s | " + " | ".join(
                f"{r['remix'][db][1]}/{r['remix'][db][0]}" for db in dbs) + f" | {sum(b[3] for b in r['bins'])}/{n} |")  # fmt: skip
        out += "\n\nThe same excerpts under the same overlay, replayed at lower levels (RMS over the work):\n\n" + "\n".join(lines)
    return out
