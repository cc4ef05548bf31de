"""Score normalisation against a background of generic pictures.

Some pictures look alike whatever video they come from: title cards and credits (text on a
dark ground), logos on black, flat or gradient frames. Descriptors of two *different*
title cards are as similar (cosine 0.5-0.65) as a heavily edited copy is to its original,
so such frames would link an upload's intro card to a film's credits. Following the score
normalisation of the VSC22 baseline (Pizzi et al.), each query descriptor ``x`` is compared
with a background set ``B`` of such generic pictures and its similarities are lowered by
how generic it is:

    g(x)       = mean of the k largest cosine similarities of x to B
    s'(x, y)   = s(x, y) - beta * max(0, g(x) - g0)

(``BackgroundParams``, ``VideoConfig.background``.)

Measured on real uploads: frames of ordinary footage have g(x) of 0.1-0.25 (5th-95th
percentile over the trailer's shots) and keep their similarities; title cards and
distressed-text intros have 0.25-0.5 and lose up to a third of theirs.

``B`` is *generated*, not shipped: ``count`` pictures drawn deterministically
with Pillow (text cards and credits in its built-in scalable font, logos, plain and
gradient frames, subtitles over smooth dark noise), embedded once per library and model
and cached in the library folder. No media is downloaded or bundled.
"""

from __future__ import annotations

import os
import random
import string
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ..storage.caches import save_cache
from .embed import INPUT_SIZE, FrameEmbedder

VERSION = 1  # bump when the generator changes: cached sets are then rebuilt


@dataclass(frozen=True)
class BackgroundParams:
    """The background set and how strongly genericness lowers a query's similarities."""

    count: int = 600
    """Generated pictures in ``B`` (drawn with seed 0)."""
    k: int = 3
    """g(x) averages the k closest pictures of ``B``: one look-alike is not enough."""
    beta: float = 1.5
    """Similarity lost per unit of genericness above ``g0``: title cards and distressed-text
    intros (g 0.25-0.5) lose up to a third of their similarity."""
    g0: float = 0.25
    """Genericness that costs nothing: ordinary footage has g(x) of 0.1-0.25 (5th-95th
    percentile over the trailer's shots)."""

_WORDS = ("the and of a to in presents with by film studio director music production team starring "
          "episode season chapter part one two three love night city story end credits copyright "
          "all rights reserved foundation project open movie sound design animation").split()  # fmt: skip
_WIDE = (398, 224)  # 16:9 drawn, then squeezed to the model's square like real frames


def _font(rng: random.Random, size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _ground(rng: random.Random, dark: bool = True) -> Image.Image:
    w, h = _WIDE
    kind = rng.choice(["flat", "gradient", "noise"])
    base = np.array([rng.randint(0, 60) if dark else rng.randint(150, 255) for _ in range(3)], np.float32)
    if kind == "flat":
        arr = np.broadcast_to(base, (h, w, 3)).copy()
    elif kind == "gradient":
        other = np.array([rng.randint(0, 90) if dark else rng.randint(120, 255) for _ in range(3)], np.float32)
        t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
        t = t[None, :, None] if len(t) == w else t[:, None, None]
        arr = base * (1 - t) + other * t + np.zeros((h, w, 3), np.float32)
    else:
        small = np.random.default_rng(rng.randint(0, 1 << 30)).normal(0, 25, (6, 10, 3)).astype(np.float32)
        noise = np.asarray(Image.fromarray(np.clip(small + 128, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), np.float32) - 128
        arr = base + noise * (0.6 if dark else 0.3)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _phrase(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return "".join(rng.choice(string.ascii_uppercase + " ") for _ in range(rng.randint(4, 18))).strip() or "A"
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 5)))
    return text.upper() if rng.random() < 0.3 else text.capitalize()


def _text_card(rng: random.Random) -> Image.Image:
    image = _ground(rng, dark=rng.random() < 0.85)
    draw = ImageDraw.Draw(image)
    w, h = image.size
    lines = rng.randint(1, 6)
    size = rng.randint(12, 44) if lines < 4 else rng.randint(10, 22)
    font = _font(rng, size)
    colour = rng.choice([(255, 255, 255), (240, 220, 80), (200, 200, 200), (230, 60, 50), (20, 20, 20)])
    y = rng.randint(5, max(6, h - lines * (size + 6)))
    columns = rng.random() < 0.3
    for _ in range(lines):
        text = _phrase(rng)
        width = draw.textlength(text, font=font)
        x = (w - width) / 2 if rng.random() < 0.7 else rng.randint(4, max(5, w // 3))
        if columns:
            draw.text((w * 0.15, y), _phrase(rng), font=font, fill=colour)
            draw.text((w * 0.55, y), _phrase(rng), font=font, fill=colour)
        else:
            draw.text((x, y), text, font=font, fill=colour)
        y += size + rng.randint(3, 12)
    return image


def _logo(rng: random.Random) -> Image.Image:
    image = _ground(rng, dark=rng.random() < 0.7)
    draw = ImageDraw.Draw(image)
    w, h = image.size
    cx, cy, r = w / 2 + rng.randint(-60, 60), h / 2 + rng.randint(-30, 30), rng.randint(20, 60)
    colour = tuple(rng.randint(80, 255) for _ in range(3))
    shape = rng.choice(["ellipse", "rounded", "ring"])
    if shape == "ellipse":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == "rounded":
        draw.rounded_rectangle((cx - 1.6 * r, cy - r, cx + 1.6 * r, cy + r), radius=r // 3, fill=colour)
    else:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=max(3, r // 5))
    text = _phrase(rng)[:12]
    font = _font(rng, rng.randint(14, 32))
    draw.text((cx - draw.textlength(text, font=font) / 2, cy + r + 6), text, font=font, fill=(230, 230, 230))
    return image


def _subtitle(rng: random.Random) -> Image.Image:
    image = _ground(rng, dark=True).filter(ImageFilter.GaussianBlur(rng.uniform(0, 3)))
    draw = ImageDraw.Draw(image)
    w, h = image.size
    font = _font(rng, rng.randint(12, 20))
    text = _phrase(rng)
    draw.text(((w - draw.textlength(text, font=font)) / 2, h - rng.randint(24, 40)), text, font=font,
              fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))  # fmt: skip
    return image


def background_images(count: int, seed: int = 0) -> np.ndarray:
    """(count, INPUT_SIZE, INPUT_SIZE, 3) uint8 generic pictures, the same for a seed."""
    rng = random.Random(seed)
    makers = [(_text_card, 0.55), (_logo, 0.15), (_subtitle, 0.1), (lambda r: _ground(r, r.random() < 0.6), 0.2)]
    out = np.empty((count, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    for i in range(count):
        pick, acc = rng.random(), 0.0
        for make, weight in makers:
            acc += weight
            if pick <= acc:
                break
        out[i] = np.asarray(make(rng).convert("RGB").resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR))
    return out


class Background:
    """The embedded background set, and the genericness g(x) of query descriptors."""

    def __init__(self, vectors: np.ndarray, params: BackgroundParams):
        self.vectors = np.ascontiguousarray(vectors, np.float32)
        self.params = params

    @classmethod
    def load(cls, folder: str, embedder: FrameEmbedder, params: BackgroundParams) -> Background:
        """From the library's cache, else generated, embedded and cached (a few seconds).
        A cached set of another size than ``params.count`` is rebuilt."""
        kind = f"background-{embedder.model}-v{VERSION}"
        path = os.path.join(folder, f"{kind}-0.npy")
        if os.path.exists(path):
            try:
                cached = np.load(path)
                if len(cached) == params.count:
                    return cls(cached.astype(np.float32), params)
            except (OSError, ValueError):
                pass
        vectors = embedder.embed(background_images(params.count))

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, vectors.astype(np.float16))

        save_cache(folder, kind, ".npy", 0, write)
        return cls(vectors, params)

    def genericness(self, queries: np.ndarray) -> np.ndarray:
        """g(x) for each row of ``queries`` (n, d)."""
        if len(queries) == 0:
            return np.zeros(0, np.float32)
        sims = queries @ self.vectors.T
        k = min(self.params.k, sims.shape[1])
        return np.sort(np.partition(sims, -k, axis=1)[:, -k:], axis=1).mean(axis=1)

    def penalty(self, queries: np.ndarray) -> np.ndarray:
        """beta * max(0, g(x) - g0): what to subtract from each row's similarities."""
        return self.params.beta * np.maximum(0.0, self.genericness(queries) - self.params.g0)
