"""The edits re-uploaders make, as FFmpeg filter graphs.

Each edit is a function ``(rng, ctx) -> Edit``: a piece of filter graph applied to the
picture (``video``), how it changes time (``speed``: query seconds = work seconds / speed),
an extra input it overlays (another video for picture-in-picture, a logo image), and what
it does to the sound. ``video`` is either a plain filter chain, or a graph template where
``{i}`` is the incoming label, ``{o}`` the outgoing one, ``{p}`` the extra input and
``{n}`` a prefix that keeps the template's own labels unique. The data set builder chains
one to three of them into one ``-filter_complex`` and lets the real FFmpeg render it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
WORDS = ["FULL MOVIE", "part 2", "must watch", "best scene", "HD 1080p", "subscribe", "wait for it",
         "top 10", "original", "reaction", "no copyright", "clip", "watch till end", "#viral"]  # fmt: skip
STICKERS = "★☺♥☀☂♫✈☎✿♛"


@dataclass
class Context:
    """What an edit may draw on: another video (for picture-in-picture) and sound files."""

    other_video: str | None = None
    music: str | None = None
    speech: str | None = None
    logo: str | None = None


@dataclass
class Edit:
    name: str
    video: str = "null"  # a filter chain, or a graph template (see the module docstring)
    speed: float = 1.0
    extra_video: str | None = None  # the input the template refers to as {p}
    audio: str | None = None  # "music", "speech" or None (keep / retime the original)
    bitrate: str | None = None  # low-bitrate re-encode
    notes: dict = field(default_factory=dict)


def _text(rng: random.Random, size: int, y: str, extra: str = "") -> str:
    word = rng.choice(WORDS).replace(":", r"\:").replace("'", "")
    return (f"drawtext=fontfile={FONT}:text='{word}':fontsize={size}:fontcolor=white:borderw=3"
            f":bordercolor=black:x=(w-tw)/2:y={y}{extra}")  # fmt: skip


def reencode(rng, ctx) -> Edit:
    width = rng.choice([320, 426, 480])
    return Edit("reencode", f"scale={width}:-2", bitrate=rng.choice(["120k", "200k", "300k"]))


def crop(rng, ctx) -> Edit:
    keep = rng.uniform(0.6, 0.9)  # removes 10-40% of each side's length
    x, y = rng.random(), rng.random()
    return Edit("crop", f"crop=iw*{keep:.3f}:ih*{keep:.3f}:(iw-ow)*{x:.3f}:(ih-oh)*{y:.3f}")


def mirror(rng, ctx) -> Edit:
    return Edit("mirror", "hflip")


def borders(rng, ctx) -> Edit:
    kind = rng.choice(["letterbox", "pillarbox", "border"])
    if kind == "letterbox":
        chain = "scale=640:-2,pad=640:ih*4/3:(ow-iw)/2:(oh-ih)/2:black"  # bars of 1/6 height each
    elif kind == "pillarbox":
        chain = "scale=-2:360,pad=iw*1.4:ih:(ow-iw)/2:0:black"
    else:
        colour = rng.choice(["white", "red", "0x2040a0", "yellow"])
        chain = f"scale=600:-2,pad=iw+60:ih+60:30:30:{colour}"
    return Edit("borders", chain + ",scale=trunc(iw/2)*2:trunc(ih/2)*2", notes={"kind": kind})


def vertical(rng, ctx) -> Edit:
    chain = ("{i}split[{n}a][{n}b];[{n}a]scale=540:960:force_original_aspect_ratio=increase,crop=540:960,"
             "boxblur=20:2[{n}bg];"
             "[{n}b]scale=540:-2[{n}fg];[{n}bg][{n}fg]overlay=(W-w)/2:(H-h)/2,"
             + _text(rng, 40, "90") + "," + _text(rng, 30, "h-140") + "{o}")  # fmt: skip
    return Edit("vertical", chain)


def pip_work_small(rng, ctx) -> Edit:
    scale = rng.uniform(0.3, 0.6)
    x, y = rng.choice(["20", "W-w-20", "(W-w)/2"]), rng.choice(["20", "H-h-20", "(H-h)/2"])
    chain = (f"{{i}}scale=iw*{scale:.2f}:-2[{{n}}fg];{{p}}scale=640:360,setsar=1[{{n}}bg];"
             f"[{{n}}bg][{{n}}fg]overlay={x}:{y}:shortest=1{{o}}")
    return Edit("pip_work_small", chain, extra_video=ctx.other_video, notes={"scale": scale})


def pip_other_small(rng, ctx) -> Edit:
    scale = rng.uniform(0.25, 0.4)
    chain = (f"{{i}}scale=640:-2,setsar=1[{{n}}bg];{{p}}scale=640*{scale:.2f}:-2[{{n}}fg];"
             f"[{{n}}bg][{{n}}fg]overlay=W-w-16:16:shortest=1{{o}}")
    return Edit("pip_other_small", chain, extra_video=ctx.other_video, notes={"scale": scale})


def text(rng, ctx) -> Edit:
    return Edit("text", _text(rng, rng.choice([28, 36, 48]), rng.choice(["20", "h-th-30", "(h-th)/2"])))


def stickers(rng, ctx) -> Edit:
    parts = []
    for _ in range(rng.randint(2, 4)):
        glyph = rng.choice(STICKERS)
        parts.append(f"drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:text='{glyph}'"
                     f":fontsize={rng.randint(40, 90)}:fontcolor={rng.choice(['yellow', 'red', 'white', 'pink'])}"
                     f":x=w*{rng.random():.2f}:y=h*{rng.random() * 0.8:.2f}")  # fmt: skip
    return Edit("stickers", ",".join(parts))


def logo(rng, ctx) -> Edit:
    if ctx.logo is None:
        return text(rng, ctx)
    corner = rng.choice(["16:16", "W-w-16:16", "16:H-h-16", "W-w-16:H-h-16"])
    size = rng.choice([100, 140, 180])
    chain = f"{{p}}scale={size}:-1[{{n}}l];{{i}}[{{n}}l]overlay={corner}:shortest=1{{o}}"
    return Edit("logo", chain, extra_video=ctx.logo, notes={"corner": corner})


def watermark(rng, ctx) -> Edit:
    word = rng.choice(["@uploader", "my_channel", "reposted", "www.example.video"])
    return Edit("watermark", f"drawtext=fontfile={FONT}:text='{word}':fontsize=30:fontcolor=white@0.6"
                             f":x=mod(t*90\\,w):y=h*0.3+h*0.3*sin(t)")  # fmt: skip


def colour(rng, ctx) -> Edit:
    kind = rng.choice(["grade", "grayscale", "sepia", "brightness"])
    chain = {
        "grade": f"eq=saturation={rng.uniform(1.3, 1.8):.2f}:gamma_r={rng.uniform(0.8, 1.2):.2f}"
                 f":gamma_b={rng.uniform(0.8, 1.2):.2f}",
        "grayscale": "hue=s=0",
        "sepia": "colorchannelmixer=.393:.769:.189:0:.349:.686:.168:0:.272:.534:.131",
        "brightness": f"eq=brightness={rng.choice([-0.2, 0.2]):.2f}:contrast={rng.uniform(0.6, 1.5):.2f}",
    }[kind]  # fmt: skip
    return Edit("colour", chain, notes={"kind": kind})


def quality(rng, ctx) -> Edit:
    kind = rng.choice(["blur", "noise", "sharpen"])
    chain = {"blur": "boxblur=3:1", "noise": "noise=alls=25:allf=t+u", "sharpen": "unsharp=7:7:2.0"}[kind]
    return Edit("quality", chain, notes={"kind": kind})


def rotate(rng, ctx) -> Edit:
    angle = rng.choice([-1, 1]) * rng.uniform(3, 10)
    zoom = rng.uniform(1.2, 1.35)
    return Edit("rotate", f"rotate={angle:.1f}*PI/180,scale=iw*{zoom:.2f}:-2,crop=iw/{zoom:.2f}:ih/{zoom:.2f},"
                          "scale=trunc(iw/2)*2:trunc(ih/2)*2", notes={"angle": angle})  # fmt: skip


def speed(rng, ctx) -> Edit:
    factor = rng.choice([0.5, 0.75, 1.25, 1.5, 2.0])
    return Edit("speed", f"setpts=PTS/{factor}", speed=factor)


def framerate(rng, ctx) -> Edit:
    return Edit("framerate", f"fps={rng.choice([15, 30, 60])}")


def new_audio(rng, ctx) -> Edit:
    kind = "music" if ctx.music and (ctx.speech is None or rng.random() < 0.5) else "speech"
    return Edit("new_audio", "null", audio=kind)


EDITS: dict[str, Callable[[random.Random, Context], Edit]] = {
    "none": lambda rng, ctx: Edit("none"),
    "reencode": reencode,
    "crop": crop,
    "mirror": mirror,
    "borders": borders,
    "vertical": vertical,
    "pip_work_small": pip_work_small,
    "pip_other_small": pip_other_small,
    "text": text,
    "stickers": stickers,
    "logo": logo,
    "watermark": watermark,
    "colour": colour,
    "quality": quality,
    "rotate": rotate,
    "speed": speed,
    "framerate": framerate,
    "new_audio": new_audio,
}
"""Every single edit the benchmark applies; ``none`` is the plain trimmed excerpt."""

HARD_EDITS = {"pip_work_small", "speed"}
"""Edits with a lower recall target in the issue (picture-in-picture, speed beyond 1.5x)."""
