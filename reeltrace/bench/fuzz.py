"""``reeltrace bench --fuzz N``: hostile media through the real command line.

The rule it checks: whatever is wrong with one input (corrupt, truncated, spliced, a box
size that lies, a sample table that disagrees with itself), that input gets a one-line
error and the rest of the batch still runs; the library is never harmed.

Seed media are generated here (PyAV: moving noise pictures, H.264, a random tune in AAC),
so the fuzzer needs no benchmark media. Mutant ``i`` is ``MUTATIONS[i % len(MUTATIONS)]``
applied to seed ``i % len(seeds)`` with a generator seeded by ``(seed, i)``: the same
arguments give the same mutants, and any one of them can be rebuilt alone.

The runner registers the seeds into a fresh library and then, through ``python -m
reeltrace`` in child processes (what users run, tracebacks and all):

* ``scan`` of batches of mutants with a byte copy of a registered seed in the middle;
* ``register`` of the same batches, the copy first (it must come out as already registered);
* ``works`` and a last ``scan`` of the copy.

It checks that each command printed one JSON result (scan) or one line (register) per
input, that each failed input has exactly one line on standard error, that no output holds
a ``Traceback``, that no command ran past its time bound (``FILE_BOUND`` per file: a hang,
not slowness, is what it looks for), that the copy is found in every batch, and that the
seeds' works come out of it unchanged. Anything else is a *crash*.
"""

from __future__ import annotations

import itertools
import json
import os
import selectors
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw

from ..report.formats import display

FILE_BOUND = 60.0
"""Seconds one input may take before its command counts as hung; seed media are a few
seconds long and take well under one, so only a hang reaches this, on a loaded machine too."""

STARTUP_BOUND = 120.0
"""Seconds a command may take on top of its files: interpreter, model and index loading."""

BATCH = 8
"""Mutants per command: a crash or hang names few suspects, and start-up stays a small part."""


# -- seed media ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedSpec:
    name: str
    seed: int
    seconds: float
    picture: bool = True
    sound: bool = True
    faststart: bool = False  # index (moov) before the media data, as streaming sites write it


SEEDS = (
    SeedSpec("picture and sound.mp4", 1, 6.0),
    SeedSpec("faststart picture.mp4", 2, 6.0, sound=False, faststart=True),
    SeedSpec("tune.m4a", 3, 6.0, picture=False),
)
"""Three container layouts: index at the end, index first, sound only. Small on purpose:
a mutant is read whole, and hostile media is about the structure, not the length."""

SIZE = (256, 144)
FPS = 10
RATE = 48000


def _world(rng: np.random.Generator) -> np.ndarray:
    """A picture twice the frame size: a smooth colour field under random shapes, lines and
    text. Random shapes make descriptors that tell two seeds apart; random pixel blocks do
    not (they all look like 'noise' to SSCD)."""
    w, h = 2 * SIZE[0], 2 * SIZE[1]
    corners = rng.uniform(0, 255, (2, 2, 3))
    y, x = np.mgrid[0:1:h * 1j, 0:1:w * 1j]
    field = (corners[0, 0] * ((1 - x) * (1 - y))[..., None] + corners[0, 1] * (x * (1 - y))[..., None]
             + corners[1, 0] * ((1 - x) * y)[..., None] + corners[1, 1] * (x * y)[..., None])  # fmt: skip
    picture = Image.fromarray(np.clip(field + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(int(rng.integers(25, 40))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(-20, w)), int(rng.integers(-20, h))
        x1, y1 = x0 + int(rng.integers(10, w // 3)), y0 + int(rng.integers(10, h // 3))
        kind = int(rng.integers(0, 4))
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif kind == 2:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 9)))
        else:
            draw.text((x0, y0), "".join(chr(int(c)) for c in rng.integers(65, 91, 6)), fill=colour)
    return np.asarray(picture)


def _pictures(seed: int, seconds: float) -> list[np.ndarray]:
    """Shots of 1.5 s, each a pan across its own random picture (``_world``): textured
    enough to be indexed (flat or dark frames are not) and unlike any other seed's."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    frames: list[np.ndarray] = []
    shot = int(1.5 * FPS)
    for i in range(int(seconds * FPS)):
        if i % shot == 0:
            world = _world(rng)
            dx, dy = (int(v) for v in rng.integers(-6, 7, 2))
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        k = i % shot
        x, y = int(np.clip(x0 + dx * k, 0, w)), int(np.clip(y0 + dy * k, 0, h))
        frames.append(np.ascontiguousarray(world[y : y + h, x : x + w]))
    return frames


def _tune(seed: int, seconds: float) -> np.ndarray:
    """(2, n) float32: random notes of two or three partials, as landmark hashing likes."""
    rng = np.random.default_rng(seed + 1000)
    n = int(seconds * RATE)
    sig = np.zeros(n)
    pos = 0
    while pos < n:
        length = min(int(rng.uniform(0.15, 0.4) * RATE), n - pos)
        t = np.arange(length) / RATE
        envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t * rng.uniform(2, 8))
        sig[pos : pos + length] += envelope * sum(0.15 * np.sin(2 * np.pi * f * t) for f in rng.uniform(200, 3000, 3))
        pos += length
    return np.stack([sig, 0.8 * sig]).astype(np.float32)


def write_seed(path: str, spec: SeedSpec) -> str:
    options = {"movflags": "faststart"} if spec.faststart else {}
    with av.open(path, "w", options=options) as out:
        # Every stream is added before the first packet: the header is written then.
        video = sound = None
        if spec.picture:
            video = out.add_stream("libx264", rate=FPS)
            video.width, video.height = SIZE
            video.pix_fmt = "yuv420p"
            # mbtree=0: otherwise this x264 does not give the same bytes twice, and the
            # mutants of a seed are meant to be the same on every run.
            video.options = {"preset": "veryfast", "crf": "23", "x264-params": "mbtree=0"}
        if spec.sound:
            sound = out.add_stream("aac", rate=RATE)
            sound.layout = "stereo"
        if video is not None:
            for i, rgb in enumerate(_pictures(spec.seed, spec.seconds)):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, FPS)
                out.mux(video.encode(frame))
            out.mux(video.encode())
        if sound is not None:
            samples = _tune(spec.seed, spec.seconds)
            step = 1024 * 8
            for pos in range(0, samples.shape[1], step):
                chunk = np.ascontiguousarray(samples[:, pos : pos + step])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = RATE, pos, Fraction(1, RATE)
                out.mux(sound.encode(frame))
            out.mux(sound.encode())
    return path


def make_seeds(folder: str, count: int = len(SEEDS)) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    return [write_seed(os.path.join(folder, spec.name), spec) for spec in SEEDS[:count]]


# -- ISO BMFF (mp4, mov, m4a) boxes ------------------------------------------------------------

CONTAINER_BOXES = frozenset(b"moov trak mdia minf stbl edts dinf udta mvex moof traf mfra".split())
SAMPLE_TABLES = (b"stsz", b"stco", b"stts", b"stsc", b"stss", b"ctts")


@dataclass(frozen=True)
class Box:
    """One box: ``path`` from the top (``(b"moov", b"trak", b"mdia", ...)``), where its
    header starts, its size as its header says (resolved for size 0 and 1), header bytes."""

    path: tuple[bytes, ...]
    start: int
    size: int
    header: int

    @property
    def kind(self) -> bytes:
        return self.path[-1]

    @property
    def end(self) -> int:
        return self.start + self.size


def mp4_boxes(data: bytes, start: int = 0, end: int | None = None, parent: tuple[bytes, ...] = ()) -> list[Box]:
    """Every box of an ISO BMFF file, depth first, descending into the container boxes.
    Stops at the first box whose size does not fit: there is no structure to trust after it."""
    end = len(data) if end is None else end
    boxes: list[Box] = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                break
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            break
        box = Box(parent + (kind,), pos, size, header)
        boxes.append(box)
        if kind in CONTAINER_BOXES:
            boxes.extend(mp4_boxes(data, pos + header, pos + size, box.path))
        pos += size
    return boxes


def box_name(boxes: list[Box], box: Box) -> str:
    """``box``'s path with the track it is in: ``moov/trak[1]/mdia/minf/stbl``."""
    names = []
    for depth, kind in enumerate(box.path):
        name = kind.decode("latin-1")
        if kind == b"trak":
            tracks = [b for b in boxes if b.path == box.path[: depth + 1]]
            name += f"[{sum(1 for b in tracks if b.start <= box.start) - 1}]"
        names.append(name)
    return "/".join(names)


def entry_count_offset(box: Box) -> int:
    """Where a sample table box keeps its entry count: after version and flags, and for
    ``stsz`` after the common sample size too."""
    return box.start + box.header + 4 + (4 if box.kind == b"stsz" else 0)


def break_sample_table(data: bytes, stbl: Box, table: Box, count_delta: int, stbl_size: int = 1) -> bytes:
    """``data`` with the ``stbl`` box's 32-bit size set to ``stbl_size`` (1: 'a 64-bit size
    follows', which then reads the first child's header as a size) and the entry count of
    ``table`` (one of its children) moved by ``count_delta``. This is how the defect of issue
    21 looked: FFmpeg still opens the file, and the track has no codec."""
    out = bytearray(data)
    struct.pack_into(">I", out, stbl.start, stbl_size)
    at = entry_count_offset(table)
    (count,) = struct.unpack_from(">I", out, at)
    struct.pack_into(">I", out, at, (count + count_delta) % (1 << 32))
    return bytes(out)


# -- mutations ---------------------------------------------------------------------------------

Mutation = Callable[[np.random.Generator, bytes, bytes], tuple[bytes, str]]


def _span(rng: np.random.Generator, n: int, longest: int) -> tuple[int, int]:
    length = int(min(n, 2 ** rng.uniform(0, np.log2(max(longest, 2)))))
    start = int(rng.integers(0, max(n - length, 0) + 1))
    return start, length


def _flip_in(rng: np.random.Generator, data: bytes, lo: int, hi: int) -> bytes:
    out = bytearray(data)
    for at in rng.integers(lo, hi, int(rng.integers(1, 33))):
        out[at] ^= int(rng.integers(1, 256))
    return bytes(out)


def flip(rng, data, other):
    return _flip_in(rng, data, 0, len(data)), "byte flips"


def header_flip(rng, data, other):
    """Flips where the structure lives: the moov box of an mp4, else the first 4 KiB."""
    moov = [b for b in mp4_boxes(data) if b.path == (b"moov",)]
    lo, hi = (moov[0].start, moov[0].end) if moov else (0, min(len(data), 4096))
    return _flip_in(rng, data, lo, hi), f"byte flips in {'moov' if moov else 'the first 4 KiB'}"


def truncate(rng, data, other):
    keep = int(rng.integers(1, len(data)))
    return data[:keep], f"truncated to {keep} of {len(data)} bytes"


def splice(rng, data, other):
    a, b = int(rng.integers(1, len(data))), int(rng.integers(0, len(other)))
    return data[:a] + other[b:], f"first {a} bytes, then another file from byte {b}"


def zero(rng, data, other):
    start, length = _span(rng, len(data), 1 << 16)
    return data[:start] + bytes(length) + data[start + length :], f"{length} bytes zeroed at {start}"


def duplicate(rng, data, other):
    start, length = _span(rng, len(data), 1 << 16)
    at = int(rng.integers(0, len(data) + 1))
    return data[:at] + data[start : start + length] + data[at:], f"{length} bytes from {start} repeated at {at}"


def _lying_size(rng: np.random.Generator, box: Box) -> int:
    choice = int(rng.integers(0, 5))
    if choice == 0:
        return 0  # "to the end of the file"
    if choice == 1:
        return 1  # "a 64-bit size follows": the next 8 bytes are read as one
    if choice == 2:
        return 0xFFFFFFFF
    if choice == 3:
        return int(rng.integers(2, 8))  # smaller than the header itself
    return max(0, min(0xFFFFFFFF, box.size + int(rng.choice([-1, 1]) * rng.integers(1, 17))))


def box_size(rng, data, other):
    boxes = [b for b in mp4_boxes(data) if b.header == 8]
    if not boxes:
        return flip(rng, data, other)
    box = boxes[int(rng.integers(0, len(boxes)))]
    size = _lying_size(rng, box)
    out = bytearray(data)
    struct.pack_into(">I", out, box.start, size)
    return bytes(out), f"{box_name(boxes, box)} size {box.size} -> {size}"


def sample_table(rng, data, other):
    """A lying ``stbl`` size with an entry count of one of its tables changed."""
    boxes = mp4_boxes(data)
    tables = [b for b in boxes if b.kind in SAMPLE_TABLES and b.path[-2:-1] == (b"stbl",)]
    if not tables:
        return flip(rng, data, other)
    table = tables[int(rng.integers(0, len(tables)))]
    (stbl,) = [b for b in boxes if b.path == table.path[:-1] and b.start < table.start < b.end]
    size = 1 if rng.random() < 0.5 else _lying_size(rng, stbl)
    delta = int(rng.choice([-1, 1, 1000, 1 << 31]))
    description = f"{box_name(boxes, stbl)} size {size}, {table.kind.decode()} count {delta:+d}"
    return break_sample_table(data, stbl, table, delta, size), description


MUTATIONS: dict[str, Mutation] = {
    "flip": flip,
    "header flip": header_flip,
    "truncate": truncate,
    "splice": splice,
    "zero": zero,
    "box size": box_size,
    "sample table": sample_table,
    "duplicate": duplicate,
}

HOSTILE_NAMES = ("{i:04d} {kind}", "{i:04d} {kind} é 視頻 'q' \"dq\"", "{i:04d} {kind}\nsecond line", "-{i:04d} {kind}")
"""Every name a mutant may get: plain, non-ASCII and quotes, a newline, a leading dash."""


@dataclass(frozen=True)
class Mutant:
    index: int
    kind: str
    source: str  # the seed it was made from
    path: str
    description: str


def make_mutants(seeds: list[str], folder: str, count: int, seed: int = 0) -> list[Mutant]:
    os.makedirs(folder, exist_ok=True)
    contents = []
    for path in seeds:
        with open(path, "rb") as fh:
            contents.append(fh.read())
    kinds = list(MUTATIONS)
    mutants = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        which = i % len(seeds)
        rng = np.random.default_rng([seed, i])
        data, description = MUTATIONS[kind](rng, contents[which], contents[(which + 1) % len(seeds)])
        name = HOSTILE_NAMES[i % len(HOSTILE_NAMES)].format(i=i, kind=kind) + os.path.splitext(seeds[which])[1]
        path = os.path.join(folder, name)
        with open(path, "wb") as fh:
            fh.write(data)
        mutants.append(Mutant(i, kind, os.path.basename(seeds[which]), path, description))
    return mutants


# -- running the command line --------------------------------------------------------------


@dataclass
class Run:
    """One child command: exit status, what it printed, when each line came (seconds from
    the start), whether it was killed at its bound."""

    argv: list[str]
    code: int | None
    out: str
    err: str
    seconds: float
    line_times: list[float] = field(default_factory=list)
    hung: bool = False


def run_command(argv: list[str], bound: float) -> Run:
    """``python -m reeltrace ARGV``, killed after ``bound`` seconds. Line arrival times are
    kept: register prints one line per input as it finishes, which times each input."""
    started = time.perf_counter()
    env = dict(os.environ)
    env.pop("REELTRACE_LIBRARY", None)
    proc = subprocess.Popen([sys.executable, "-m", "reeltrace", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)  # fmt: skip
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}
    line_times: list[float] = []
    hung = False
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, "out")
        selector.register(proc.stderr, selectors.EVENT_READ, "err")
        open_pipes = 2
        while open_pipes:
            left = bound - (time.perf_counter() - started)
            if left <= 0:
                hung = True
                proc.kill()
                break
            for key, _ in selector.select(timeout=min(left, 1.0)):
                block = os.read(key.fileobj.fileno(), 1 << 16)
                if not block:
                    selector.unregister(key.fileobj)
                    open_pipes -= 1
                    continue
                chunks[key.data].append(block)
                line_times.extend([time.perf_counter() - started] * block.count(b"\n"))
    code = proc.wait()
    return Run(argv, None if hung else code, b"".join(chunks["out"]).decode("utf-8", "replace"),
               b"".join(chunks["err"]).decode("utf-8", "replace"), time.perf_counter() - started,
               line_times, hung)  # fmt: skip


# -- the runner --------------------------------------------------------------------------------


class FuzzSetupError(Exception):
    """The fuzzer could not start: its own seed media did not register."""


@dataclass
class FuzzReport:
    seed: int
    mutants: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    scan_errors: int = 0  # mutants that scan refused, each with its one-line error
    scan_errors_by_kind: dict[str, int] = field(default_factory=dict)
    register_errors: int = 0
    registered: int = 0  # mutants still readable enough to become works
    already_registered: int = 0  # readable mutants equal to an earlier one (box edits repeat)
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    copy_found: int = 0  # batches in which the real copy was found
    batches: int = 0
    slowest_register: tuple[float, str] = (0.0, "")  # seconds, input (see _register_phase)
    slowest_scan_batch: tuple[float, int] = (0.0, 0)  # seconds, inputs
    seconds: float = 0.0
    mutant_list: list[Mutant] = field(default_factory=list)

    def text(self) -> str:
        kinds = ", ".join(f"{k} {self.scan_errors_by_kind.get(k, 0)}/{n}" for k, n in self.by_kind.items())
        lines = [
            f"mutants: {self.mutants} (seed {self.seed}; refused by scan/tried: {kinds})",
            f"errors: scan {self.scan_errors}, register {self.register_errors} (registered anyway: {self.registered}, "
            f"equal to an earlier mutant: {self.already_registered})",
            f"crashes: {len(self.crashes)}",
            f"hangs: {len(self.hangs)}",
            f"real copy found: {self.copy_found} of {self.batches} batches",
            f"slowest register: {self.slowest_register[0]:.2f} s ({display(self.slowest_register[1])})",
            (f"slowest scan batch: {self.slowest_scan_batch[0]:.1f} s for {self.slowest_scan_batch[1]} inputs"
             " (start-up included)"),
            f"total: {self.seconds:.0f} s",
        ]
        lines += [f"CRASH {display(c)}" for c in self.crashes] + [f"HANG {display(h)}" for h in self.hangs]
        return "\n".join(lines) + "\n"


def _check_error_lines(run: Run, failed: list[tuple[str, str]], what: str) -> list[str]:
    """Standard error must be exactly "reeltrace: <path>: <error>" for each failed input."""
    expected = [f"reeltrace: {display(path)}: {error}" for path, error in failed]
    got = run.err.splitlines()
    if got != expected:
        return [f"{what}: standard error is not one line per failed input: {run.err[-2000:]!r}"]
    return []


def _common_checks(run: Run, what: str) -> list[str]:
    problems = []
    if run.hung:
        return problems  # counted as a hang, not a crash
    if "Traceback" in run.out or "Traceback" in run.err:
        lines = (run.err.strip() or run.out.strip()).splitlines()
        problems.append(f"{what}: traceback ending {lines[-1] if lines else ''!r}")
    if run.code not in (0, 1):
        problems.append(f"{what}: exit status {run.code}: {run.err[-500:]!r}")
    return problems


def check_scan(run: Run, inputs: list[str], copy: str, copy_work: str) -> tuple[list[str], list[dict], bool]:
    """Problems with one scan of ``inputs``, its results, and whether the copy was found."""
    what = f"scan of {len(inputs)} inputs"
    problems = _common_checks(run, what)
    if run.hung or problems:
        return problems, [], False
    try:
        results = json.loads(run.out)["results"]
    except (ValueError, KeyError, TypeError):
        return [f"{what}: output is not the JSON report: {run.out[:500]!r}"], [], False
    if [r.get("query") for r in results] != inputs:
        return [f"{what}: {len(results)} results for {len(inputs)} inputs"], results, False
    failed = [(r["query"], r["error"]) for r in results if r["error"]]
    problems += _check_error_lines(run, failed, what)
    problems += [f"{display(path)}: error is not one line: {error!r}" for path, error in failed
                 if "\n" in error or "\r" in error or "Traceback" in error]  # fmt: skip
    if (run.code == 1) != bool(failed):
        problems.append(f"{what}: exit status {run.code} with {len(failed)} failed inputs")
    (copy_result,) = [r for r in results if r["query"] == copy]
    found = copy_result["error"] is None and copy_work in {m["work_id"] for m in copy_result["matches"]}
    if not found:
        problems.append(f"{what}: the real copy of {copy_work} was not found: {copy_result}")
    return problems, results, found


def check_register(run: Run, inputs: list[str]) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Problems with one register of ``inputs``; the work ids it printed; failed inputs."""
    what = f"register of {len(inputs)} inputs"
    problems = _common_checks(run, what)
    if run.hung or problems:
        return problems, [], []
    ids, failed = [], []
    out_lines = run.out.splitlines()
    err_lines = run.err.splitlines()
    for path in inputs:
        shown = display(path)
        done = [line for line in out_lines if line.endswith("registered\t" + shown)]
        bad = [line for line in err_lines if line.startswith(f"reeltrace: {shown}: ")]
        if len(done) + len(bad) != 1:
            problems.append(f"{what}: {shown}: {len(done)} result lines and {len(bad)} error lines")
        ids += [line.split("\t")[0] for line in done]
        failed += [(path, line[len(f"reeltrace: {shown}: ") :]) for line in bad]
    if len(out_lines) + len(err_lines) != len(inputs):
        problems.append(f"{what}: {len(out_lines)} + {len(err_lines)} lines for {len(inputs)} inputs")
    if (run.code == 1) != bool(failed):
        problems.append(f"{what}: exit status {run.code} with {len(failed)} failed inputs")
    return problems, ids, failed


def _works(library: str, bound: float) -> tuple[list[str], dict[str, dict]]:
    run = run_command(["--library", library, "works", "--format", "json"], bound)
    problems = _common_checks(run, "works")
    if run.hung:
        return ["works: hung"], {}
    if problems or run.code != 0:
        return problems or [f"works: exit status {run.code}: {run.err!r}"], {}
    try:
        return [], {w["work_id"]: w for w in json.loads(run.out)["works"]}
    except (ValueError, KeyError, TypeError):
        return [f"works: output is not JSON: {run.out[:500]!r}"], {}


@dataclass(frozen=True)
class Setup:
    """What every phase of a run works on."""

    library: str
    copy: str  # a byte copy of the first seed, under another name
    copy_work: str  # its work id
    seed_works: dict[str, dict]  # work id -> public JSON, as registered
    groups: list[list[Mutant]]
    file_bound: float
    note: Callable[[str], None]

    def bound(self, files: int) -> float:
        return STARTUP_BOUND + self.file_bound * files


def _setup(folder: str, mutants: list[Mutant], seed_files: list[str], batch: int, file_bound: float, note) -> Setup:
    library = os.path.join(folder, "library")
    shutil.rmtree(library, ignore_errors=True)
    note(f"registering {len(seed_files)} seed works in {library}")
    first = run_command(["--library", library, "register", *seed_files], STARTUP_BOUND + file_bound * len(seed_files))
    if first.code != 0:
        raise FuzzSetupError(f"the seed media did not register: {' '.join(first.err.split())[-500:]}")
    problems, seed_works = _works(library, STARTUP_BOUND)
    if problems:
        raise FuzzSetupError("; ".join(problems))
    copy = os.path.join(folder, "real copy " + os.path.basename(seed_files[0]))
    shutil.copyfile(seed_files[0], copy)
    copy_work = first.out.splitlines()[0].split("\t")[0]
    # The first scan of a library writes its caches (vector index, generic pictures for the
    # background penalty): done here, the batches' times are their files' own.
    warm = run_command(["--library", library, "scan", copy, "--format", "json"], STARTUP_BOUND * 2 + file_bound)
    problems, _, _ = check_scan(warm, [copy], copy, copy_work)
    if warm.hung or problems:
        raise FuzzSetupError(f"the copy of a seed was not found: {'; '.join(problems) or 'hung'}")
    groups = [mutants[i : i + batch] for i in range(0, len(mutants), batch)]
    return Setup(library, copy, copy_work, seed_works, groups, file_bound, note)


def _scan_phase(setup: Setup, report: FuzzReport) -> None:
    """Each batch of mutants, the real copy in the middle, through one ``scan``."""
    for n, group in enumerate(setup.groups):
        inputs = [m.path for m in group]
        inputs.insert(len(inputs) // 2, setup.copy)
        run = run_command(["--library", setup.library, "scan", *inputs, "--format", "json"], setup.bound(len(inputs)))
        report.batches += 1
        if run.hung:
            report.hangs.append(f"scan of {inputs}")
        problems, results, found = check_scan(run, inputs, setup.copy, setup.copy_work)
        report.crashes += problems
        report.copy_found += found
        kinds = {m.path: m.kind for m in group}
        for r in results:
            if r["error"] and r["query"] in kinds:
                report.scan_errors += 1
                kind = kinds[r["query"]]
                report.scan_errors_by_kind[kind] = report.scan_errors_by_kind.get(kind, 0) + 1
        if run.seconds > report.slowest_scan_batch[0]:
            report.slowest_scan_batch = (run.seconds, len(inputs))
        setup.note(f"scan batch {n + 1}/{len(setup.groups)}: {run.seconds:.1f} s, "
                   f"{len(problems)} problems{', HUNG' if run.hung else ''}")  # fmt: skip


def _register_phase(setup: Setup, report: FuzzReport) -> set[str]:
    """Each batch through one ``register``, the real copy first: it must come out as
    already registered, and its line ends the start-up, so that the gap before each later
    line times one mutant (the first of a batch also loads the model). The ids created."""
    created: set[str] = set()
    for n, group in enumerate(setup.groups):
        inputs = [setup.copy, *(m.path for m in group)]
        run = run_command(["--library", setup.library, "register", *inputs], setup.bound(len(inputs)))
        if run.hung:
            report.hangs.append(f"register of {inputs}")
        problems, _, failed = check_register(run, inputs)
        expected = f"{setup.copy_work}\talready registered\t{display(setup.copy)}"
        if not run.hung and not problems and run.out.splitlines()[:1] != [expected]:
            problems.append(f"register: the real copy was not recognised: {run.out.splitlines()[:1]}")
        report.crashes += problems
        report.register_errors += len(failed)
        registered_lines = [line for line in run.out.splitlines() if "\tregistered\t" in line]
        report.registered += len(registered_lines)
        report.already_registered += sum(1 for line in run.out.splitlines()[1:] if "\talready registered\t" in line)
        created.update(line.split("\t")[0] for line in registered_lines)
        for path, (a, b) in zip(inputs[1:], itertools.pairwise(run.line_times), strict=False):
            if b - a > report.slowest_register[0]:
                report.slowest_register = (b - a, path)
        setup.note(f"register batch {n + 1}/{len(setup.groups)}: {run.seconds:.1f} s, "
                   f"{len(problems)} problems{', HUNG' if run.hung else ''}")  # fmt: skip
    return created


def _library_phase(setup: Setup, report: FuzzReport, created: set[str]) -> None:
    """The library afterwards: it opens, lists the seeds' works unchanged and nothing but
    what register said it created, and still finds the copy."""
    problems, works_after = _works(setup.library, setup.bound(0))
    report.crashes += problems
    if not problems:
        for work_id, work in setup.seed_works.items():
            if works_after.get(work_id) != work:
                report.crashes.append(f"library: work {work_id} changed: {work} -> {works_after.get(work_id)}")
        unexplained = set(works_after) - set(setup.seed_works) - created
        if unexplained:
            report.crashes.append(f"library: works nobody registered: {sorted(unexplained)}")
    last = run_command(["--library", setup.library, "scan", setup.copy, "--format", "json"], setup.bound(1))
    if last.hung:
        report.hangs.append("last scan of the real copy")
    problems, _, _ = check_scan(last, [setup.copy], setup.copy, setup.copy_work)
    report.crashes += [f"after the batches: {p}" for p in problems]


def run_fuzz(count: int, seed: int = 0, folder: str | None = None, seeds: int = len(SEEDS),
             batch: int = BATCH, file_bound: float = FILE_BOUND, log=None) -> FuzzReport:  # fmt: skip
    """Make ``count`` mutants of ``seeds`` generated files in ``folder`` (a temporary one if
    None, removed afterwards) and put them through scan and register (module docstring)."""
    started = time.perf_counter()
    temporary = folder is None
    folder = tempfile.mkdtemp(prefix="reeltrace-fuzz-") if temporary else folder
    report = FuzzReport(seed)

    def note(text: str) -> None:
        if log is not None:
            print(text, file=log, flush=True)

    try:
        seed_files = make_seeds(os.path.join(folder, "seeds"), seeds)
        shutil.rmtree(os.path.join(folder, "mutants"), ignore_errors=True)
        report.mutant_list = make_mutants(seed_files, os.path.join(folder, "mutants"), count, seed)
        report.mutants = len(report.mutant_list)
        for m in report.mutant_list:
            report.by_kind[m.kind] = report.by_kind.get(m.kind, 0) + 1
        setup = _setup(folder, report.mutant_list, seed_files, batch, file_bound, note)
        _scan_phase(setup, report)
        created = _register_phase(setup, report)
        _library_phase(setup, report, created)
    finally:
        report.seconds = time.perf_counter() - started
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
    return report


def bench_fuzz(count: int, seed: int = 0, out: str | None = None) -> int:
    """``reeltrace bench --fuzz N``: run, print the figures, write ``fuzz.json`` under
    ``out``; exit status 1 if anything crashed or hung."""
    if out is not None:
        out = os.path.join(out, "fuzz")
        os.makedirs(out, exist_ok=True)
    try:
        report = run_fuzz(count, seed, out, log=sys.stderr)
    except FuzzSetupError as err:
        print(f"reeltrace: fuzz: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(report.text())
    if out is not None:
        with open(os.path.join(out, "fuzz.json"), "w", encoding="utf-8") as fh:
            json.dump(asdict(report), fh, indent=2, ensure_ascii=True)
        print(f"details in {out}/fuzz.json; mutants in {out}/mutants", file=sys.stderr)
    return 1 if report.crashes or report.hangs else 0
