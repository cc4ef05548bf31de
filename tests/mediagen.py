"""Deterministic synthetic media for the test suite (numpy + PIL + PyAV, no network).

A *work* is generated from a seed: a sequence of shots (2.5-5 s each, hard cuts between
them). Every shot has its own random "world" picture (several octaves of smooth coloured
noise, fine texture and random shapes, lines and stripes), a camera that pans and zooms
across it, and a few moving sprites. Two seeds share nothing, so their pictures are
unrelated; two instants of one work show different places of different worlds.

Queries are built from *decoded* frames of the generated files (``read_frames``), edited
with PIL/numpy (mirror, crop, letterbox, colour, vertical 9:16 repost with a blurred
background, speed change by re-timing frames, low-bitrate re-encode) and encoded again.
The functions return the ground truth of what they built.
"""

from __future__ import annotations

import itertools
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

FPS = 25
WORK_SIZE = (320, 180)  # (w, h) of generated works
QUERY_SIZE = (480, 270)  # (w, h) of compilation queries
WORLD_SIZE = (1280, 720)


# -- pictures ---------------------------------------------------------------------------


def _upsample(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(gh, gw, c) float32 -> (h, w, c) by bicubic interpolation."""
    return np.stack(
        [np.asarray(Image.fromarray(grid[..., c], mode="F").resize(size, Image.BICUBIC)) for c in range(grid.shape[2])],
        axis=-1,
    )


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _palette_map(t: np.ndarray, palette: np.ndarray, cyclic: bool = False) -> np.ndarray:
    """Map t (in palette-index units) to colours, interpolating between palette entries."""
    n = len(palette)
    if cyclic:
        t = np.mod(t, n)
    else:
        t = np.clip(t, 0, n - 1 - 1e-6)
    i = np.floor(t).astype(np.int64)
    f = (t - i)[..., None]
    j = (i + 1) % n
    return palette[i] * (1 - f) + palette[j] * f


def world_noise(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Smooth coloured multi-octave noise with grain, shapes, lines and striped patches."""
    w, h = size
    acc = np.zeros((h, w, 3), np.float32)
    for cells, amp in ((3, 1.0), (6, 0.7), (12, 0.45), (24, 0.3), (48, 0.18), (96, 0.1)):
        gh, gw = cells + 1, int(cells * w / h) + 1
        acc += amp * _upsample(rng.standard_normal((gh, gw, 3)).astype(np.float32), size)
    mix = rng.normal(0, 1, (3, 3)).astype(np.float32) + np.eye(3, dtype=np.float32) * 1.5
    acc = acc @ mix
    lo, hi = np.percentile(acc, 2, axis=(0, 1)), np.percentile(acc, 98, axis=(0, 1))
    acc = np.clip((acc - lo) / (hi - lo + 1e-6), 0, 1) ** rng.uniform(0.6, 1.6, 3).astype(np.float32)
    base = rng.uniform(0, 80, 3).astype(np.float32)
    span = rng.uniform(150, 255, 3).astype(np.float32)
    pixels = base + acc * (span - base * 0.5) + rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(40, 70))):
        kind = rng.integers(0, 5)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(8, 120), rng.uniform(8, 120)
        box = [cx - rx, cy - ry, cx + rx, cy + ry]
        if kind == 0:
            draw.ellipse(box, fill=_colour(rng), outline=_colour(rng), width=int(rng.integers(1, 5)))
        elif kind == 1:
            draw.rectangle(box, fill=_colour(rng), outline=_colour(rng), width=int(rng.integers(1, 5)))
        elif kind == 2:
            n = int(rng.integers(3, 7))
            pts = [(cx + rng.uniform(-rx, rx) * 1.5, cy + rng.uniform(-ry, ry) * 1.5) for _ in range(n)]
            draw.polygon(pts, fill=_colour(rng), outline=_colour(rng))
        elif kind == 3:
            pts = [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(int(rng.integers(2, 5)))]
            draw.line(pts, fill=_colour(rng), width=int(rng.integers(2, 12)))
        else:
            stripe = int(rng.integers(4, 14))
            c1, c2 = _colour(rng), _colour(rng)
            x0, y0, x1, y1 = (int(v) for v in box)
            for i, x in enumerate(range(x0, x1, stripe)):
                draw.rectangle([x, y0, min(x + stripe - 1, x1), y1], fill=c1 if i % 2 else c2)
    return img.filter(ImageFilter.SMOOTH)


def world_warp(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Domain-warped interfering waves through a random palette (marble, wood, terrain)."""
    w, h = size

    def noise(cells: int, channels: int) -> np.ndarray:
        acc = np.zeros((h, w, channels), np.float32)
        for c, a in ((cells, 1.0), (cells * 2, 0.5), (cells * 4, 0.25)):
            acc += a * _upsample(rng.standard_normal((c + 1, int(c * w / h) + 1, channels)).astype(np.float32), size)
        return acc

    offset = noise(3, 2) * rng.uniform(60, 250)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = noise(int(rng.integers(4, 12)), 1)[..., 0]
    freq = rng.uniform(0.01, 0.06)
    v = np.sin((xx + offset[..., 0]) * freq + base * 2) + np.sin((yy + offset[..., 1]) * freq * rng.uniform(0.5, 2))
    palette = rng.integers(0, 256, (int(rng.integers(3, 7)), 3)).astype(np.float32)
    t = (v - v.min()) / (v.max() - v.min() + 1e-6) * (len(palette) - 1)
    return Image.fromarray(_palette_map(t, palette).astype(np.uint8))


def world_julia(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A Julia set of a random parameter, window and palette."""
    w, h = size
    for _ in range(20):
        c = complex(*rng.uniform(-1, 1, 2)) * 0.85
        cx, cy = rng.uniform(-0.6, 0.6, 2)
        span = rng.uniform(1.2, 3.0)
        xs = np.linspace(cx - span / 2, cx + span / 2, w // 2)
        ys = np.linspace(cy - span / 2 * h / w, cy + span / 2 * h / w, h // 2)
        z = xs[None, :] + 1j * ys[:, None]
        it = np.zeros(z.shape, np.float32)
        alive = np.ones(z.shape, bool)
        for i in range(60):
            z[alive] = z[alive] ** 2 + c
            esc = alive & (np.abs(z) > 4)
            it[esc] = i + 1 - np.log2(np.log(np.abs(z[esc]) + 1e-9) + 1e-9)
            alive &= ~esc
        if 0.1 < alive.mean() < 0.9 or (it > 5).mean() > 0.3:
            break
    palette = rng.integers(0, 256, (int(rng.integers(4, 9)), 3)).astype(np.float32)
    img = _palette_map(it * rng.uniform(0.1, 0.5), palette, cyclic=True)
    img[alive] = palette[0] * 0.3
    return Image.fromarray(img.astype(np.uint8)).resize(size, Image.BILINEAR)


def world_ifs(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Layers of random iterated-function-system fractals (ferns, spirals, clouds of dust)
    over a two-colour gradient."""
    w, h = size
    c0, c1 = (np.array(_colour(rng), np.float32) for _ in range(2))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)[..., None]
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min() + 1e-6)
    img = c0 + (c1 - c0) * ramp
    for _ in range(int(rng.integers(4, 7))):
        k = int(rng.integers(2, 5))
        a = rng.uniform(-0.9, 0.9, (k, 2, 2))
        b = rng.uniform(-1, 1, (k, 2))
        for j in range(k):
            norm = np.linalg.norm(a[j], 2)
            if norm > 0.9:
                a[j] *= 0.9 / norm
        p = rng.uniform(-1, 1, (30000, 2))
        points = []
        for i in range(30):
            idx = rng.integers(0, k, len(p))
            p = np.einsum("nij,nj->ni", a[idx], p) + b[idx]
            if i > 8:
                points.append(p.copy())
        pts = np.concatenate(points)
        lo, hi = np.percentile(pts[::16], 1, 0), np.percentile(pts[::16], 99, 0)
        pts = (pts - lo) / (hi - lo + 1e-9)
        scale = rng.uniform(0.6, 1.4)
        ox, oy = rng.uniform(-0.3 * scale, 1 - 0.7 * scale, 2)
        # Plot at half resolution, thicken by a 3x3 dilation, scale up: strokes ~4 px wide.
        hw, hh = w // 2, h // 2
        xi = ((pts[:, 0] * scale + ox) * hw).astype(np.int64)
        yi = ((pts[:, 1] * scale + oy) * hh).astype(np.int64)
        ok = (xi >= 0) & (xi < hw) & (yi >= 0) & (yi < hh)
        half = np.zeros((hh + 2, hw + 2), bool)
        half[yi[ok] + 1, xi[ok] + 1] = True
        thick = np.zeros((hh, hw), bool)
        for dy in range(3):
            for dx in range(3):
                thick |= half[dy : dy + hh, dx : dx + hw]
        layer = np.repeat(np.repeat(thick, 2, axis=0), 2, axis=1)
        img[layer] = np.array(_colour(rng), np.float32)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def world_leaves(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A dead-leaves picture: hundreds of occluding shapes with power-law sizes."""
    w, h = size
    img = Image.new("RGB", size, _colour(rng))
    draw = ImageDraw.Draw(img)
    palette = rng.integers(0, 256, (int(rng.integers(3, 9)), 3))
    for _ in range(int(rng.integers(400, 900))):
        r = min(4 * (1 - rng.random()) ** (-1 / 1.5), 300)
        cx, cy = rng.uniform(-50, w + 50), rng.uniform(-50, h + 50)
        c = tuple(int(v) for v in np.clip(palette[rng.integers(len(palette))] + rng.integers(-40, 40, 3), 0, 255))
        kind = rng.integers(0, 3)
        box = [cx - r, cy - r * rng.uniform(0.4, 1.6), cx + r, cy + r * rng.uniform(0.4, 1.6)]
        if kind == 0:
            draw.ellipse(box, fill=c)
        elif kind == 1:
            draw.rectangle(box, fill=c)
        else:
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
            draw.polygon([(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles], fill=c)
    return img


STYLES: dict[str, Callable[[np.random.Generator, tuple[int, int]], Image.Image]] = {
    "noise": world_noise,
    "warp": world_warp,
    "julia": world_julia,
    "ifs": world_ifs,
    "leaves": world_leaves,
}
"""Picture families. The SSCD descriptor sees two pictures of one family as alike (cosine
0.6-0.8) however different their seeds, and pictures of different families as unrelated
(mostly below 0.3), as unrelated real footage is. So every video the suite compares is
made in its own family; within one, its shots differ by seed (and camera)."""


def make_world(rng: np.random.Generator, style: str = "noise", size: tuple[int, int] = WORLD_SIZE) -> Image.Image:
    return STYLES[style](rng, size)


@dataclass(frozen=True)
class _Sprite:
    """A patch of the shot's own world (so it belongs to the video's picture family),
    cut to a disc or a square, gliding across the frame."""

    patch: Image.Image
    mask: Image.Image
    start: tuple[float, float]
    velocity: tuple[float, float]  # pixels per second


def _make_sprite(rng: np.random.Generator, world: Image.Image, size: tuple[int, int]) -> _Sprite:
    side = int(rng.uniform(0.12, 0.25) * size[1]) // 2 * 2 + 2
    src = int(side * rng.uniform(1.5, 4))
    x, y = rng.uniform(0, world.width - src), rng.uniform(0, world.height - src)
    patch = world.resize((side, side), Image.BILINEAR, box=(x, y, x + src, y + src))
    if rng.integers(0, 2):
        patch = patch.transpose(Image.Transpose.ROTATE_90)
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    if rng.integers(0, 2):
        draw.ellipse([0, 0, side - 1, side - 1], fill=255)
    else:
        draw.rectangle([0, 0, side - 1, side - 1], fill=255)
    return _Sprite(
        patch,
        mask,
        start=(float(rng.uniform(0, size[0])), float(rng.uniform(0, size[1]))),
        velocity=(float(rng.uniform(-0.3, 0.3) * size[0]), float(rng.uniform(-0.3, 0.3) * size[1])),
    )


@dataclass(frozen=True)
class Shot:
    start: float  # seconds in the work
    duration: float
    world: Image.Image
    rect0: tuple[float, float, float, float]  # camera (x, y, w, h) in the world at shot start
    rect1: tuple[float, float, float, float]  # ... and at shot end
    sprites: tuple[_Sprite, ...]


def _camera_rect(rng: np.random.Generator, world: tuple[int, int], aspect: float) -> tuple[float, float, float, float]:
    ww, wh = world
    cw = rng.uniform(0.35, 0.6) * ww
    ch = cw / aspect
    if ch > wh:
        ch = wh * 0.95
        cw = ch * aspect
    x = rng.uniform(0, ww - cw)
    y = rng.uniform(0, wh - ch)
    return (x, y, cw, ch)


def plan_shots(seed: int, duration: float, style: str, size: tuple[int, int] = WORK_SIZE) -> list[Shot]:
    rng = np.random.default_rng(seed)
    aspect = size[0] / size[1]
    shots = []
    t = 0.0
    while t < duration - 1e-9:
        length = min(float(rng.uniform(2.5, 5.0)), duration - t)
        world = make_world(rng, style)
        r0 = _camera_rect(rng, world.size, aspect)
        # Pan by 15-35% of the world and zoom by up to 25%, so consecutive samples differ.
        zoom = rng.uniform(0.8, 1.25)
        cw1 = min(r0[2] * zoom, world.size[0] * 0.95)
        ch1 = cw1 / aspect
        angle = rng.uniform(0, 2 * math.pi)
        dist = rng.uniform(0.15, 0.35) * world.size[0]
        x1 = float(np.clip(r0[0] + math.cos(angle) * dist, 0, world.size[0] - cw1))
        y1 = float(np.clip(r0[1] + math.sin(angle) * dist * 0.6, 0, world.size[1] - ch1))
        sprites = tuple(_make_sprite(rng, world, size) for _ in range(int(rng.integers(2, 5))))
        shots.append(Shot(t, length, world, r0, (x1, y1, cw1, ch1), sprites))
        t += length
    return shots


def render_frame(shot: Shot, t: float, size: tuple[int, int]) -> np.ndarray:
    """The picture at work time ``t`` (inside ``shot``) as (h, w, 3) uint8."""
    u = (t - shot.start) / max(shot.duration, 1e-6)
    u = u * u * (3 - 2 * u)  # ease in/out
    x, y, cw, ch = (a + (b - a) * u for a, b in zip(shot.rect0, shot.rect1, strict=True))
    img = shot.world.resize(size, Image.BILINEAR, box=(x, y, x + cw, y + ch))
    dt = t - shot.start
    for sp in shot.sprites:
        sx = (sp.start[0] + sp.velocity[0] * dt) % size[0]
        sy = (sp.start[1] + sp.velocity[1] * dt) % size[1]
        img.paste(sp.patch, (int(sx - sp.patch.width / 2), int(sy - sp.patch.height / 2)), sp.mask)
    return np.asarray(img)


def work_frames(
    seed: int, duration: float, style: str, size: tuple[int, int] = WORK_SIZE, fps: int = FPS
) -> Iterator[np.ndarray]:
    """The work's frames, rgb24 at ``size``, ``fps`` a second."""
    shots = plan_shots(seed, duration, style, size)
    n = int(round(duration * fps))
    k = 0
    for i in range(n):
        t = i / fps
        while k + 1 < len(shots) and t >= shots[k + 1].start - 1e-9:
            k += 1
        yield render_frame(shots[k], t, size)


# -- encoding ---------------------------------------------------------------------------


def tone(duration: float, rate: int = 48000, seed: int = 0) -> np.ndarray:
    """(2, n) float32 stereo: a random tune (notes of 0.15-0.5 s, each two or three random
    partials under an attack-decay envelope) over a little noise; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    n = int(duration * rate)
    sig = np.zeros(n, np.float64)
    pos = 0
    while pos < n:
        length = min(int(rng.uniform(0.15, 0.5) * rate), n - pos)
        t = np.arange(length) / rate
        env = np.minimum(t / 0.01, 1.0) * np.exp(-t * rng.uniform(2, 8))
        partials = rng.uniform(150, 3000, int(rng.integers(2, 4)))
        note = sum(rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * f * t) for f in partials)
        sig[pos : pos + length] += env * note
        pos += length
    sig += 0.005 * rng.standard_normal(n)
    return np.stack([sig, sig * 0.8]).astype(np.float32)


def write_video(
    path: str,
    frames: Iterable[np.ndarray],
    fps: int = FPS,
    codec: str = "libx264",
    bit_rate: int | None = None,
    audio: np.ndarray | None = None,
    audio_rate: int = 48000,
    faststart: bool = False,
) -> str:
    """Encode rgb24 frames (all the same size) to ``path``; optional stereo AAC audio."""
    options = {"movflags": "faststart"} if faststart else {}
    frames = iter(frames)
    first = next(frames)
    h, w, _ = first.shape
    with av.open(path, "w", options=options) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height = w, h
        vs.pix_fmt = "yuv420p"
        if bit_rate is not None:
            vs.bit_rate = bit_rate
        if codec == "libx264":
            # mbtree=0: with macroblock-tree rate control this x264 build does not give the
            # same bytes twice, and the suite wants the same media on every run.
            vs.options = {"preset": "veryfast", "x264-params": "mbtree=0"}
            if bit_rate is None:
                vs.options = dict(vs.options, crf="20")
        elif bit_rate is None:
            vs.bit_rate = 1_500_000
        aus = None
        if audio is not None:
            aus = out.add_stream("aac", rate=audio_rate)
            aus.layout = "stereo"
        per_frame = audio_rate // fps
        apos = 0

        def put_audio(upto: int) -> None:
            nonlocal apos
            while aus is not None and apos < min(upto, audio.shape[1]):
                chunk = np.ascontiguousarray(audio[:, apos : min(upto, audio.shape[1])])
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                af.sample_rate = audio_rate
                af.pts = apos
                af.time_base = Fraction(1, audio_rate)
                for pkt in aus.encode(af):
                    out.mux(pkt)
                apos += chunk.shape[1]

        for i, arr in enumerate(itertools.chain([first], frames)):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            vf.pts = i  # explicit timestamps: without them the encodes are not reproducible
            vf.time_base = Fraction(1, fps)
            for pkt in vs.encode(vf):
                out.mux(pkt)
            put_audio((i + 1) * per_frame)
        for pkt in vs.encode():
            out.mux(pkt)
        if aus is not None:
            put_audio(audio.shape[1])
            for pkt in aus.encode():
                out.mux(pkt)
    return path


def write_audio_only(path: str, duration: float, codec: str = "aac", rate: int = 48000, seed: int = 0) -> str:
    """An audio-only file (AAC in .m4a/.mp4, or PCM in .wav) of ``tone(seed)``."""
    audio = tone(duration, rate, seed)
    with av.open(path, "w") as out:
        st = out.add_stream(codec, rate=rate)
        st.layout = "stereo"
        fmt = "s16" if codec.startswith("pcm_s16") else "fltp"
        step = 4800
        for pos in range(0, audio.shape[1], step):
            chunk = audio[:, pos : pos + step]
            if fmt == "s16":
                data = (np.clip(chunk.T, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="s16", layout="stereo")
            else:
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
            af.sample_rate = rate
            for pkt in st.encode(af):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def make_work(
    path: str, seed: int, duration: float, style: str, size: tuple[int, int] = WORK_SIZE, audio: bool = False, **kw
) -> str:
    """Encode the work of ``seed`` (``duration`` seconds of family ``style``) to ``path``."""
    frames = work_frames(seed, duration, style, size)
    return write_video(path, frames, audio=tone(duration, seed=seed) if audio else None, **kw)


# -- decoding and editing real frames ----------------------------------------------------


def read_frames(path: str, start: float = 0.0, end: float = math.inf) -> list[np.ndarray]:
    """Decoded rgb24 frames whose index i (at the file's frame rate) has start <= i/fps < end."""
    out = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        first_pts = None
        for n, frame in enumerate(container.decode(stream)):
            if first_pts is None:
                first_pts = frame.pts
            # Frame index from its timestamp (robust to B-frame reordering in the muxer).
            i = int(round(float((frame.pts - first_pts) * frame.time_base) * fps)) if frame.pts is not None else n
            t = i / fps
            if t >= end - 1e-6:
                break
            if t >= start - 1e-6:
                out.append(frame.to_ndarray(format="rgb24"))
    return out


Edit = Callable[[np.ndarray, tuple[int, int]], np.ndarray]


def fit(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))


def plain(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return fit(rgb, size)


def mirror(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return fit(np.ascontiguousarray(rgb[:, ::-1]), size)


def into_quad(image: Image.Image, corners, size: tuple[int, int], resample=Image.BILINEAR) -> np.ndarray:
    """``image`` drawn into the quadrilateral ``corners`` ((x, y), clockwise from the top
    left) of a black canvas of ``size`` (w, h): a screen seen at an angle. Solved here, not
    with the product's homography, so that a test of its rectification checks it."""
    w, h = image.size
    rows, targets = [], []
    # PIL maps each canvas pixel back to the image: the 8 coefficients of that projective map.
    for (x, y), (u, v) in zip(corners, [(0, 0), (w, 0), (w, h), (0, h)], strict=True):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        targets += [u, v]
    coefficients = np.linalg.solve(np.asarray(rows, np.float64), np.asarray(targets, np.float64))
    return np.asarray(image.transform(size, Image.Transform.PERSPECTIVE, tuple(coefficients), resample))


def crop20(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Keep the central 80% in each direction (20% of the width and height cut off)."""
    h, w, _ = rgb.shape
    dy, dx = int(h * 0.1), int(w * 0.1)
    return fit(np.ascontiguousarray(rgb[dy : h - dy, dx : w - dx]), size)


def colour_shift(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    img = Image.fromarray(fit(rgb, size))
    img = ImageEnhance.Color(img).enhance(1.6)
    img = ImageEnhance.Brightness(img).enhance(1.12)
    arr = np.asarray(img).astype(np.int16)
    arr[..., 2] = arr[..., 2] * 0.85  # warmer
    return np.clip(arr, 0, 255).astype(np.uint8)


def crop_and_colour(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return colour_shift(crop20(rgb, size), size)


def letterbox(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The picture scaled down to 72% of the canvas height, centred on black: black bars on
    every side (letterbox top/bottom and pillarbox left/right)."""
    w, h = size
    ph = int(h * 0.72) // 2 * 2
    pw = int(round(ph * rgb.shape[1] / rgb.shape[0])) // 2 * 2
    canvas = np.zeros((h, w, 3), np.uint8)
    y, x = (h - ph) // 2, (w - pw) // 2
    canvas[y : y + ph, x : x + pw] = fit(rgb, (pw, ph))
    return canvas


def vertical(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 9:16 repost: the picture across the middle band of a tall canvas, over a blurred,
    enlarged, darkened copy of itself."""
    w, h = size
    src = Image.fromarray(rgb)
    scale = h / src.height
    bg = src.resize((int(src.width * scale) + 1, h), Image.BILINEAR)
    left = (bg.width - w) // 2
    bg = bg.crop((left, 0, left + w, h)).filter(ImageFilter.GaussianBlur(14))
    bg = ImageEnhance.Brightness(bg).enhance(0.7)
    canvas = np.array(bg)
    bh = int(round(w * src.height / src.width)) // 2 * 2
    y = (h - bh) // 2
    canvas[y : y + bh] = fit(rgb, (w, bh))
    return canvas


def reencode(frames: list[np.ndarray], bit_rate: int, codec: str = "mpeg4") -> list[np.ndarray]:
    """The frames after a real encode at ``bit_rate`` and decode (compression artefacts)."""
    fd, tmp = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        write_video(tmp, frames, codec=codec, bit_rate=bit_rate)
        return read_frames(tmp)
    finally:
        os.unlink(tmp)


@dataclass(frozen=True)
class Clip:
    """One stretch of a query: ``duration`` seconds from ``source`` starting at ``start``,
    played at ``speed`` (source seconds per query second), edited by ``edit``."""

    source: str
    start: float
    duration: float  # query seconds
    edit: Edit = plain
    speed: float = 1.0
    bit_rate: int | None = None  # re-encode the clip at this bit rate first
    work_id: str | None = None  # None: material not in the library
    label: str = ""


@dataclass(frozen=True)
class Truth:
    """Where a clip landed in the built query."""

    clip: Clip
    query_start: float
    query_end: float

    @property
    def work_start(self) -> float:
        return self.clip.start

    @property
    def work_end(self) -> float:
        return self.clip.start + self.clip.duration * self.clip.speed

    def work_time(self, query_time: float) -> float:
        return self.clip.start + (query_time - self.query_start) * self.clip.speed


def clip_frames(clip: Clip, size: tuple[int, int], fps: int = FPS) -> list[np.ndarray]:
    n = int(round(clip.duration * fps))
    span = clip.duration * clip.speed
    source = read_frames(clip.source, clip.start, clip.start + span + 1.0 / fps)
    picked = [source[min(int(math.floor(i * clip.speed + 1e-9)), len(source) - 1)] for i in range(n)]
    if clip.bit_rate is not None:
        picked = reencode([fit(f, size) for f in picked], clip.bit_rate)
        picked = (picked + picked[-1:] * n)[:n]
    return [clip.edit(f, size) for f in picked]


def build_query(path: str, clips: list[Clip], size: tuple[int, int] = QUERY_SIZE, fps: int = FPS, **kw) -> list[Truth]:
    """Concatenate the edited clips into one video; return where each one landed."""
    truths = []
    frames: list[np.ndarray] = []
    for clip in clips:
        start = len(frames) / fps
        frames.extend(clip_frames(clip, size, fps))
        truths.append(Truth(clip, start, len(frames) / fps))
    write_video(path, frames, fps=fps, **kw)
    return truths


def remux(src: str, dst: str, faststart: bool = False) -> str:
    """Copy the streams of ``src`` into a new MP4 without re-encoding (``faststart``: the
    index goes before the media data, as streaming sites write it)."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(src) as inp, av.open(dst, "w", options=options) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("video", "audio")}
        for packet in inp.demux():
            if packet.dts is None or packet.stream.index not in streams:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dst
