"""Evidence reports: one self-contained HTML file per scan, fit to attach to a claim.

The report names the query, the time of the scan and the library, then every matched work
(with its owner) and every reused segment with its times and score, illustrated by frame
pairs (query frame | work frame) at matched instants. Thumbnails are embedded as base64
JPEG, so the file has no outside references and can be mailed or archived as it is.

``write_report`` is what ``reeltrace scan --report FILE.html`` and the service call.
Frame grabbing (``grab_frame``) lives here too; the service caches its output.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import os
from collections.abc import Sequence
from datetime import datetime, timezone

import av
import numpy as np
from PIL import Image, ImageDraw

from ..media.container import MediaError, picture_stream
from ..media.sound import decode_audio_span
from ..records import CATEGORIES, ScanResult, Segment, Work
from ..storage.files import atomic_write_text
from .formats import clock, speed_text

THUMB_WIDTH = 320
FRAMES_PER_SEGMENT = 3
CANDIDATES_PER_FRAME = 3
"""Frame pairs are chosen among this many instants around each of a segment's shown times:
the pair a lay reviewer can compare best (``pair_legibility``), never a fade to black
beside a lit frame."""
SPECTROGRAM_RATE = 8000  # Hz: the band the fingerprints listen to (audio.config)
SPECTROGRAM_MAX_SECONDS = 12.0  # a longer sound segment shows its first 12 s
SPECTROGRAM_HEIGHT = 160

# One colour per matched work, in match order (also used by the web console).
WORK_COLOURS = [
    "#2f6fdf", "#e0672b", "#2a9d6f", "#c2389b", "#8a5cf6", "#d4a017", "#1e9bb8", "#b5443a",
    "#5d8a2f", "#6c6f7f",
]  # fmt: skip


def work_colour(index: int) -> str:
    return WORK_COLOURS[index % len(WORK_COLOURS)]


# -- frames -------------------------------------------------------------------------------


def grab_image(path: str, t: float, width: int = THUMB_WIDTH) -> Image.Image | None:
    """The video frame shown at ``t`` seconds in ``path``, scaled to ``width`` (aspect kept);
    None when the file is missing or has no decodable video there."""
    if not path or not os.path.isfile(path):
        return None
    try:
        with av.open(path) as container:
            stream = picture_stream(container)
            if stream is None:
                return None
            stream.thread_type = "AUTO"
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            target = max(float(t), 0.0)
            if target > 1.0 and stream.time_base:
                container.seek(int((target + start - 1.0) / stream.time_base), stream=stream, backward=True)
            last = None
            for frame in container.decode(stream):
                ft = float(frame.pts * frame.time_base) - start if frame.pts is not None else 0.0
                last = frame
                if ft >= target - 0.02:
                    break
            if last is None:
                return None
            img = last.to_image()
    except (av.error.FFmpegError, OSError, ValueError):
        return None
    if img.width > 0 and width and img.width != width:
        height = max(2, int(round(img.height * width / img.width)))
        img = img.resize((width, height), Image.BILINEAR)
    return img


def placeholder(width: int = THUMB_WIDTH, height: int | None = None, text: str = "frame unavailable") -> Image.Image:
    height = height or width * 9 // 16
    img = Image.new("RGB", (width, height), (58, 62, 72))
    draw = ImageDraw.Draw(img)
    for x in range(-height, width, 18):  # diagonal hatching
        draw.line([(x, height), (x + height, 0)], fill=(66, 70, 81), width=6)
    box = draw.textbbox((0, 0), text)
    draw.text(((width - box[2]) / 2, (height - box[3]) / 2), text, fill=(200, 204, 214))
    return img


def jpeg_bytes(img: Image.Image, quality: int = 82) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def grab_frame(path: str, t: float, width: int = THUMB_WIDTH) -> bytes | None:
    """JPEG bytes of the frame at ``t`` seconds, or None (see ``grab_image``)."""
    img = grab_image(path, t, width)
    return None if img is None else jpeg_bytes(img)


def segment_speed(seg: Segment) -> float:
    span = seg.query_end - seg.query_start
    return (seg.work_end - seg.work_start) / span if span > 1e-6 else 1.0


def pair_times(seg: Segment, count: int = FRAMES_PER_SEGMENT) -> list[tuple[float, float]]:
    """(query time, work time) pairs spread over a segment: near its start, middle, end."""
    span = max(seg.query_end - seg.query_start, 0.0)
    speed = segment_speed(seg)
    if count <= 1 or span < 0.5:
        fractions = [0.5]
    else:
        fractions = [0.08 + 0.84 * i / (count - 1) for i in range(count)]
    out = []
    for f in fractions:
        q = seg.query_start + span * f
        out.append((round(q, 3), round(seg.work_start + (q - seg.query_start) * speed, 3)))
    return out


def pair_legibility(query: Image.Image, work: Image.Image) -> float:
    """How well a person can compare two frames: the contrast (grey-level standard
    deviation, 0-255) of the duller of the two. A black or flat frame scores near 0, so a
    pair of a fade-out and a lit frame loses to any pair where both show the picture."""
    return min(float(np.asarray(img.convert("L").resize((64, 36)), np.float32).std()) for img in (query, work))


def legible_pairs(seg: Segment, query_file: str | None, work_file: str, count: int = FRAMES_PER_SEGMENT,
                  candidates: int = CANDIDATES_PER_FRAME) -> list[tuple[float, float, Image.Image | None, Image.Image | None]]:  # fmt: skip
    """``count`` (query time, work time, query frame, work frame) spread over ``seg``: each the
    most legible (``pair_legibility``) of ``candidates`` instants in its share of the
    segment. A side whose file cannot be read is None (the report shows a placeholder)."""
    spread = pair_times(seg, count * candidates)
    out = []
    for i in range(0, len(spread), candidates):
        best = None
        for qt, wt in spread[i : i + candidates]:
            qimg = grab_image(query_file, qt) if query_file else None
            wimg = grab_image(work_file, wt)
            score = pair_legibility(qimg, wimg) if qimg is not None and wimg is not None else -1.0
            if best is None or score > best[0]:
                best = (score, qt, wt, qimg, wimg)
        out.append(best[1:])
    return out


# -- sound ---------------------------------------------------------------------------------

# Anchors of a perceptually ordered dark-to-light colour map (black, violet, red, yellow).
_HEAT = np.array([[0, 0, 4], [60, 15, 110], [150, 40, 120], [230, 90, 60], [252, 200, 40], [252, 253, 191]], np.float32)


def spectrogram_image(samples: np.ndarray, rate: int = SPECTROGRAM_RATE, width: int = THUMB_WIDTH,
                      height: int = SPECTROGRAM_HEIGHT) -> Image.Image:  # fmt: skip
    """A log-magnitude spectrogram (64 ms Hann windows, 16 ms hop, 0 to rate/2 Hz, low
    frequencies at the bottom) as a ``width`` x ``height`` picture. Levels run over the 60 dB
    below the excerpt's own peak, so a quiet copy and a loud original look alike: what a
    reviewer compares is the pattern of notes and beats, not the loudness."""
    n_fft, hop = 512, 128
    samples = np.asarray(samples, np.float32)
    if len(samples) < n_fft:
        samples = np.pad(samples, (0, n_fft - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, n_fft)[::hop] * np.hanning(n_fft).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    level = 10 * np.log10(power + 1e-12)
    level = np.clip((level - (level.max() - 60.0)) / 60.0, 0.0, 1.0).T[::-1]  # frequency up
    at = level * (len(_HEAT) - 1)
    low = np.floor(at).astype(int).clip(0, len(_HEAT) - 2)
    mix = (at - low)[..., None]
    rgb = (_HEAT[low] * (1 - mix) + _HEAT[low + 1] * mix).astype(np.uint8)
    return Image.fromarray(rgb, "RGB").resize((width, height), Image.BILINEAR)


def sound_spans(seg: Segment) -> tuple[tuple[float, float], tuple[float, float]]:
    """The seconds of a sound-only segment its spectrograms show, (query span, work span):
    its first ``SPECTROGRAM_MAX_SECONDS`` of query, and the work's seconds they match."""
    span = min(seg.query_end - seg.query_start, SPECTROGRAM_MAX_SECONDS)
    speed = segment_speed(seg)
    return (seg.query_start, seg.query_start + span), (seg.work_start, seg.work_start + span * speed)


def sound_image(path: str | None, start: float, end: float) -> Image.Image | None:
    """The spectrogram of seconds [start, end) of ``path``'s sound, or None when the file or
    its sound cannot be read."""
    if not path or not os.path.isfile(path) or end <= start:
        return None
    try:
        samples = decode_audio_span(path, SPECTROGRAM_RATE, start, end)
    except (MediaError, OSError):
        return None
    return spectrogram_image(samples) if len(samples) else None


# -- files -----------------------------------------------------------------------------------


def file_facts(path: str | None) -> tuple[str, int] | None:
    """(SHA-256 hex, size in bytes) of a file, or None when it cannot be read."""
    if not path or not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
            size = fh.tell()
    except OSError:
        return None
    return digest.hexdigest(), size


def shown_name(name: str) -> str:
    """A query or library as the report names it: an absolute local path is cut to its
    last part (the report travels; the folders of the machine that wrote it do not)."""
    return os.path.basename(name.rstrip("/\\")) or name if os.path.isabs(name) else name


# -- report -------------------------------------------------------------------------------

_CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d2330;background:#f3f4f7}
main{max-width:1040px;margin:0 auto;padding:28px 32px 48px;background:#fff;min-height:100vh;box-shadow:0 0 0 1px #e3e6ec}
header{border-bottom:3px solid #1d2330;padding-bottom:14px;margin-bottom:20px}
header .brand{font-size:12px;letter-spacing:.14em;text-transform:uppercase;color:#6b7385}
h1{font-size:24px;margin:4px 0 0}
h2{font-size:18px;margin:28px 0 8px;padding-top:12px;border-top:1px solid #e3e6ec}
h3{font-size:15px;margin:18px 0 6px}
table.meta{border-collapse:collapse;margin:8px 0 4px}
table.meta th{text-align:left;font-weight:600;color:#4a5263;padding:3px 18px 3px 0;vertical-align:top;white-space:nowrap}
table.meta td{padding:3px 0;word-break:break-all}
table.segs{border-collapse:collapse;width:100%;margin:8px 0 14px;font-variant-numeric:tabular-nums}
table.segs th,table.segs td{border-bottom:1px solid #e3e6ec;padding:6px 8px;text-align:left}
table.segs th{background:#f6f7f9;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#4a5263}
.swatch{display:inline-block;width:12px;height:12px;border-radius:3px;vertical-align:-1px;margin-right:6px}
.timeline{position:relative;height:26px;background:#eceef3;border-radius:4px;margin:6px 0 2px;overflow:hidden}
.timeline .seg{position:absolute;top:0;bottom:0;opacity:.9}
.axis{display:flex;justify-content:space-between;font-size:11px;color:#6b7385}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px;margin:8px auto 14px;max-width:820px;page-break-inside:avoid}
.pair figure{margin:0;background:#f6f7f9;border:1px solid #e3e6ec;border-radius:6px;padding:6px}
.pair img{width:100%;display:block;border-radius:3px}
.pair figcaption{font-size:12px;color:#4a5263;margin-top:4px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;background:#e8edf8;color:#2c4a8a;font-size:12px;font-weight:600}
.none{padding:14px;background:#f0f7f2;border:1px solid #cfe6d6;border-radius:6px}
.err{padding:14px;background:#fbeeee;border:1px solid #f0c9c9;border-radius:6px;color:#8a2020}
footer{margin-top:36px;font-size:12px;color:#6b7385;border-top:1px solid #e3e6ec;padding-top:10px}
@media print{body{background:#fff}main{box-shadow:none}}
"""


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _img_tag(img: Image.Image, alt: str) -> str:
    data = base64.b64encode(jpeg_bytes(img, 78)).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/jpeg;base64,{data}">'


def _timestamp(value) -> str:
    if value is None:
        value = datetime.now(timezone.utc)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    try:
        return _timestamp(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def render_report(
    results: Sequence[ScanResult],
    *,
    library: str | None = None,
    scanned_at: datetime | str | None = None,
    query_files: Sequence[str | None] | None = None,
    query_names: Sequence[str] | None = None,
    query_urls: Sequence[str | None] | None = None,
    frames_per_segment: int = FRAMES_PER_SEGMENT,
    requested_by: str | None = None,
    claimant: str | None = None,
    software: str | None = None,
    title: str = "Content reuse evidence report",
) -> str:
    """The report as one HTML string (no outside references, no local absolute paths).

    ``results[i].query`` is shown as the query unless ``query_names[i]`` is given; query
    frames, sound and the file's SHA-256 are read from ``query_files[i]`` (default:
    ``results[i].query``), the work's from its ``source_path``. ``query_urls[i]``: where the
    query was found (the infringing URL), when known. ``claimant``: who claims (name and
    contact); ``software``: the versions that produced the result (``version_text``).
    ``scanned_at`` is when the scan ran; the report's own time is now. A segment shown by
    sound alone is illustrated by a spectrogram pair of its matched seconds, the others by
    frame pairs (``legible_pairs``); a file that cannot be read gets a placeholder.
    ``frames_per_segment=0`` leaves pictures out.
    """
    generated = _timestamp(None)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<header><div class='brand'>reeltrace · content identification</div><h1>{_esc(title)}</h1></header>",
        "<table class='meta'>",
        f"<tr><th>Time of scan</th><td>{_esc(_timestamp(scanned_at))}</td></tr>",
        f"<tr><th>Report generated</th><td>{_esc(generated)}</td></tr>",
    ]
    if software:
        parts.append(f"<tr><th>Software</th><td>{_esc(software)}</td></tr>")
    if library:
        parts.append(f"<tr><th>Library</th><td>{_esc(shown_name(os.path.abspath(library)))}</td></tr>")
    if claimant:
        parts.append(f"<tr><th>Claimant</th><td>{_esc(claimant)}</td></tr>")
    if requested_by:
        parts.append(f"<tr><th>Requested by</th><td>{_esc(requested_by)}</td></tr>")
    total_works = len({m.work.work_id for r in results for m in r.matches})
    parts.append(f"<tr><th>Queries</th><td>{len(results)}</td></tr>")
    parts.append(f"<tr><th>Works found</th><td>{total_works}</td></tr></table>")

    for qi, result in enumerate(results):
        name = shown_name(query_names[qi] if query_names and qi < len(query_names) else result.query)
        qfile = query_files[qi] if query_files and qi < len(query_files) else result.query
        url = query_urls[qi] if query_urls and qi < len(query_urls) else None
        facts = file_facts(qfile)
        parts.append(f"<h2>Query {qi + 1}: {_esc(name)}</h2>")
        parts.append("<table class='meta'>")
        parts.append(f"<tr><th>Query</th><td>{_esc(name)}</td></tr>")
        if url:
            parts.append(f"<tr><th>Found at</th><td>{_esc(url)}</td></tr>")
        if facts:
            parts.append(f"<tr><th>Query SHA-256</th><td>{facts[0]}</td></tr>")
            parts.append(f"<tr><th>Query size</th><td>{facts[1]:,} bytes</td></tr>")
        else:
            parts.append("<tr><th>Query file</th><td>not available to this report</td></tr>")
        parts.append(f"<tr><th>Duration</th><td>{clock(result.duration)}</td></tr>")
        parts.append(f"<tr><th>Works matched</th><td>{len(result.matches)}</td></tr></table>")
        if result.error:
            parts.append(f"<div class='err'>The query could not be scanned: {_esc(result.error)}</div>")
            continue
        if not result.matches:
            parts.append("<div class='none'>No registered work was found in this query.</div>")
            continue
        # Timeline of the whole query, coloured by work.
        dur = max(result.duration, max(s.query_end for m in result.matches for s in m.segments), 1e-6)
        parts.append("<div class='timeline'>")
        for mi, m in enumerate(result.matches):
            for s in m.segments:
                left = 100 * s.query_start / dur
                width = max(100 * (s.query_end - s.query_start) / dur, 0.4)
                parts.append(
                    f"<div class='seg' style='left:{left:.3f}%;width:{width:.3f}%;background:{work_colour(mi)}' "
                    f"title='{_esc(m.work.title)} {clock(s.query_start)}-{clock(s.query_end)}'></div>"
                )
        parts.append(f"</div><div class='axis'><span>0:00.00</span><span>{clock(dur)}</span></div>")

        for mi, m in enumerate(result.matches):
            w = m.work
            parts.append(
                f"<h3><span class='swatch' style='background:{work_colour(mi)}'></span>{_esc(w.title)} "
                f"<span class='badge'>score {m.score:.3f}</span></h3>"
            )
            parts.append("<table class='meta'>")
            parts.append(f"<tr><th>Work id</th><td>{_esc(w.work_id)}</td></tr>")
            parts.append(f"<tr><th>Owner</th><td>{_esc(w.owner or '—')}</td></tr>")
            parts.append(f"<tr><th>Category</th><td>{_esc(CATEGORIES.get(w.category, w.category))}</td></tr>")
            parts.append(f"<tr><th>Work duration</th><td>{clock(w.duration)}</td></tr>")
            parts.append(f"<tr><th>Modality</th><td>{_esc(m.modality)}</td></tr>")
            if w.content_hash:
                parts.append(f"<tr><th>Content SHA-256</th><td>{_esc(w.content_hash)}</td></tr>")
            reused = sum(s.query_end - s.query_start for s in m.segments)
            parts.append(f"<tr><th>Reused</th><td>{reused:.1f} s in {len(m.segments)} segment(s)</td></tr></table>")
            parts.append(
                "<table class='segs'><tr><th>#</th><th>Query from</th><th>Query to</th><th>Work from</th>"
                "<th>Work to</th><th>Length</th><th>Shown by</th><th>Speed</th><th>Score</th></tr>"
            )
            for si, s in enumerate(m.segments):
                parts.append(
                    f"<tr><td>{si + 1}</td><td>{clock(s.query_start)}</td><td>{clock(s.query_end)}</td>"
                    f"<td>{clock(s.work_start)}</td><td>{clock(s.work_end)}</td>"
                    f"<td>{s.query_end - s.query_start:.2f} s</td><td>{_esc(s.modality)}</td>"
                    f"<td>{speed_text(segment_speed(s))}</td><td>{s.score:.3f}</td></tr>"
                )
            parts.append("</table>")
            if frames_per_segment <= 0:
                continue
            for si, s in enumerate(m.segments):
                if s.modality == "audio":
                    parts.append(_sound_pair(s, si, qfile, w))
                    continue
                for qt, wt, qimg, wimg in legible_pairs(s, qfile, w.source_path, frames_per_segment):
                    ref = qimg or wimg
                    size = (ref.width, ref.height) if ref is not None else (THUMB_WIDTH, THUMB_WIDTH * 9 // 16)
                    qimg = qimg or placeholder(size[0], size[1], "query file unavailable")
                    wimg = wimg or placeholder(size[0], size[1], "work file unavailable")
                    parts.append(
                        "<div class='pair'>"
                        f"<figure>{_img_tag(qimg, f'query at {clock(qt)}')}"
                        f"<figcaption>Query · segment {si + 1} · {clock(qt)}</figcaption></figure>"
                        f"<figure>{_img_tag(wimg, f'work at {clock(wt)}')}"
                        f"<figcaption>{_esc(w.title)} · {clock(wt)}</figcaption></figure></div>"
                    )
    parts.append(
        "<footer>Generated by reeltrace. Segments shown by picture were found by comparing copy-detection "
        "descriptors of frames sampled from the query with those of the registered works; segments shown by "
        "sound, by aligning landmark fingerprints of the two soundtracks. Scores are calibrated match "
        "confidences in [0, 1]. Frame pairs show the query and the work at matched instants; spectrograms "
        "(time across, pitch up, brighter is louder) show the matched seconds of both soundtracks.</footer>"
    )
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _sound_pair(seg: Segment, index: int, query_file: str | None, work: Work) -> str:
    """The spectrograms of a sound-only segment's matched seconds, query beside work."""
    (q0, q1), (w0, w1) = sound_spans(seg)
    qimg = sound_image(query_file, q0, q1) or placeholder(THUMB_WIDTH, SPECTROGRAM_HEIGHT, "query sound unavailable")
    wimg = sound_image(work.source_path, w0, w1) or placeholder(THUMB_WIDTH, SPECTROGRAM_HEIGHT, "work sound unavailable")
    q_span, w_span = f"{clock(q0)}–{clock(q1)}", f"{clock(w0)}–{clock(w1)}"
    return (
        "<div class='pair sound'>"
        f"<figure>{_img_tag(qimg, f'query sound {q_span}')}"
        f"<figcaption>Query sound · segment {index + 1} · {q_span}</figcaption></figure>"
        f"<figure>{_img_tag(wimg, f'work sound {w_span}')}"
        f"<figcaption>{_esc(work.title)} sound · {w_span}</figcaption></figure></div>"
    )


def write_report(results: Sequence[ScanResult], path: str, **kwargs) -> str:
    """Write ``render_report(results, **kwargs)`` to ``path`` atomically; returns ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return atomic_write_text(path, render_report(results, **kwargs))
