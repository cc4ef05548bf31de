"""Deterministic synthetic audio for the audio tests (numpy + PyAV, no network).

* ``music(seed, seconds)``: random notes (equal-tempered, 2-4 voices) with harmonics, an
  attack/decay envelope and vibrato, over a beat of filtered noise bursts. Two seeds share
  no melody, so their landmarks are unrelated though their instruments are alike.
* ``speech(seed, seconds)``: speech-like sound: a glottal pulse train (gliding pitch)
  shaped by two or three formant resonances that change every syllable, with pauses.

Edits return new sample arrays; ``write`` encodes with PyAV (any codec it has).
"""

from __future__ import annotations

import av
import numpy as np

RATE = 22050


def _note(rng, freq: float, n: int, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    vib = 1 + 0.003 * np.sin(2 * np.pi * rng.uniform(4, 6) * t)
    phase = 2 * np.pi * freq * np.cumsum(vib) / rate
    out = np.zeros(n)
    for h in range(1, int(rng.integers(3, 7))):
        if freq * h > rate / 2 - 500:
            break
        out += rng.uniform(0.2, 1.0) / h * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    attack = min(n, int(0.01 * rate))
    env = np.exp(-t * rng.uniform(2, 8))
    env[:attack] *= np.linspace(0, 1, attack)
    return out * env


def music(seed: int, seconds: float, rate: int = RATE, timbre: int | None = None) -> np.ndarray:
    """``timbre``: another seed for each note's harmonics, envelope and vibrato (and the
    percussion), so the same notes at the same instants sound as another recording of one
    composer's motif would; None draws everything from ``seed``."""
    rng = np.random.default_rng(seed)
    sound = rng if timbre is None else np.random.default_rng(timbre)
    n = int(seconds * rate)
    y = np.zeros(n + rate)
    for _voice in range(int(rng.integers(2, 5))):
        t = 0.0
        low = int(rng.integers(40, 64))
        while t < seconds:
            length = float(rng.choice([0.125, 0.25, 0.25, 0.5, 0.75]))
            if rng.random() < 0.85:
                midi = low + int(rng.integers(0, 24))
                f = 440.0 * 2 ** ((midi - 69) / 12)
                start, m = int(t * rate), int(min(length * 1.5, 1.0) * rate)
                y[start : start + m] += sound.uniform(0.3, 1.0) * _note(sound, f, m, rate)[: len(y) - start]
            t += length
    # Percussion: short noise bursts, low-passed or high-passed at random.
    beat = rng.uniform(0.4, 0.6)
    for t in np.arange(0, seconds, beat):
        m = int(0.08 * rate)
        burst = sound.standard_normal(m) * np.exp(-np.arange(m) / (0.015 * rate))
        if sound.random() < 0.5:
            burst = np.convolve(burst, np.ones(8) / 8, "same")
        start = int(t * rate)
        y[start : start + m] += 0.4 * burst[: len(y) - start]
    y = y[:n]
    return (0.3 * y / (np.abs(y).max() + 1e-9)).astype(np.float32)


def speech(seed: int, seconds: float, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    y = np.zeros(n)
    t = 0
    freqs = np.fft.rfftfreq(8192, 1 / rate)
    while t < n:
        m = int(rng.uniform(0.12, 0.3) * rate)
        if rng.random() < 0.15:
            t += int(rng.uniform(0.1, 0.4) * rate)  # pause
            continue
        f0 = rng.uniform(90, 200) * np.linspace(1, rng.uniform(0.85, 1.15), m)
        phase = np.cumsum(f0) / rate
        pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
        if rng.random() < 0.25:
            pulses = rng.standard_normal(m) * 0.3  # unvoiced syllable
        env = np.ones_like(freqs) * 0.02
        for _ in range(3):
            fc, bw = rng.uniform(250, 3200), rng.uniform(60, 200)
            env += 1.0 / (1 + ((freqs - fc) / bw) ** 2)
        spec = np.fft.rfft(pulses, 8192) * env
        syl = np.fft.irfft(spec, 8192)[:m] * np.hanning(m)
        y[t : t + m] += syl[: n - t]
        t += m
    return (0.3 * y / (np.abs(y).max() + 1e-9)).astype(np.float32)


# -- edits -------------------------------------------------------------------------------


def resample(y: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    from reeltrace.media.sound import resample as _r

    return _r(y, rate, to_rate)


def speed(y: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster, pitch changing with it (tape / playback-rate speed)."""
    return resample(y, int(round(RATE * factor)), RATE)


def tempo(y: np.ndarray, factor: float, n: int = 1024, hop: int = 256) -> np.ndarray:
    """Play ``factor`` times faster with pitch kept: a phase vocoder (magnitudes
    interpolated between analysis frames, phases advanced by each bin's measured
    instantaneous frequency, overlap-add at the synthesis hop)."""
    win = np.hanning(n)
    frames = np.lib.stride_tricks.sliding_window_view(np.r_[np.zeros(n), y, np.zeros(n)], n)[::hop]
    spec = np.fft.rfft(frames * win, axis=1)
    omega = 2 * np.pi * hop * np.arange(n // 2 + 1) / n
    steps = np.arange(0, len(spec) - 1, factor)
    out = np.zeros(len(steps) * hop + n)
    norm = np.zeros_like(out)
    phase = np.angle(spec[0])
    for j, s in enumerate(steps):
        i, frac = int(s), s - int(s)
        mag = (1 - frac) * np.abs(spec[i]) + frac * np.abs(spec[i + 1])
        out[j * hop : j * hop + n] += np.fft.irfft(mag * np.exp(1j * phase), n) * win
        norm[j * hop : j * hop + n] += win**2
        dphi = np.angle(spec[i + 1]) - np.angle(spec[i]) - omega
        phase = phase + omega + (dphi + np.pi) % (2 * np.pi) - np.pi
    out = out / np.maximum(norm, 1e-3)
    return out[n : n + int(len(y) / factor)].astype(np.float32)


def band_limit(y: np.ndarray, lo: float = 300.0, hi: float = 3400.0, rate: int = RATE) -> np.ndarray:
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(len(y), 1 / rate)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, len(y)).astype(np.float32)


def mix(y: np.ndarray, other: np.ndarray, db: float) -> np.ndarray:
    """``y`` plus ``other`` scaled to ``db`` dB relative to y's power (0: equal power)."""
    other = np.resize(other, len(y))
    gain = np.sqrt(np.mean(y**2) / (np.mean(other**2) + 1e-12)) * 10 ** (db / 20)
    return (y + gain * other).astype(np.float32)


def noise(y: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    return mix(y, np.random.default_rng(seed).standard_normal(len(y)).astype(np.float32), -snr_db)


# -- files -------------------------------------------------------------------------------


def write(path: str, y: np.ndarray, rate: int = RATE, codec: str | None = None, bit_rate: int | None = None, channels: int = 1) -> str:
    """Encode mono samples (``channels=2``: a stereo mix, right channel at 0.6 and slightly
    delayed) into ``path``; the codec follows the suffix unless given."""
    suffix = path.rsplit(".", 1)[-1]
    codec = codec or {"wav": "pcm_s16le", "flac": "flac", "mp3": "libmp3lame", "m4a": "aac", "ogg": "libopus", "opus": "libopus"}[suffix]
    if codec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
        y, rate = resample(y, rate, 48000), 48000
    layout = "stereo" if channels == 2 else "mono"
    data = y[None, :] if channels == 1 else np.stack([y, 0.6 * np.r_[np.zeros(20, np.float32), y[:-20]]])
    with av.open(path, "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        fmt = stream.codec_context.codec.audio_formats[0].name
        frame_size = stream.codec_context.frame_size or 1024
        resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate, frame_size=frame_size)
        pts = 0
        for start in range(0, data.shape[1], frame_size):
            chunk = np.ascontiguousarray(data[:, start : start + frame_size], np.float32)
            frame = av.AudioFrame.from_ndarray(chunk.T.reshape(1, -1), format="flt", layout=layout)  # packed: interleaved
            frame.sample_rate = rate
            frame.pts = pts
            pts += chunk.shape[1]
            for f in resampler.resample(frame):
                out.mux(stream.encode(f))
        for f in resampler.resample(None):
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return path
