"""Live streams for the tests (``test_live``, ``test_monitors``): an MPEG-TS stream that
FFmpeg writes from generated media (unregistered footage, an excerpt of work A,
unregistered footage), the same written as HLS, and a quiet HTTP server on 127.0.0.1 that
serves it."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import threading

import mediagen
import numpy as np

EXCERPT = (6.0, 16.0)  # seconds of work A shown on the stream
BEFORE, AFTER = 8.0, 8.0  # seconds of unregistered footage around it


def make_stream(folder: str, work_a: str, distractor: str, unrelated: str) -> str:
    """The MPEG-TS stream in ``folder``: BEFORE s of ``unrelated``, work A's EXCERPT, AFTER s of
    ``distractor``, with a keyframe every second (as live encoders send), and its sound."""
    frames = mediagen.read_frames(unrelated, 0.0, BEFORE)
    frames += mediagen.read_frames(work_a, *EXCERPT)
    frames += mediagen.read_frames(distractor, 0.0, AFTER)
    plain = mediagen.write_video(os.path.join(folder, "plain.mp4"), frames, audio=quiet_sound(len(frames) / mediagen.FPS))
    out = os.path.join(folder, "stream.ts")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", plain, "-c:v", "libx264", "-g", str(mediagen.FPS),
                    "-keyint_min", str(mediagen.FPS), "-c:a", "aac", "-f", "mpegts", out], check=True)  # fmt: skip
    return out


def quiet_sound(seconds: float) -> np.ndarray:
    """Quiet noise: the stream has a sound track that matches nothing."""
    rng = np.random.default_rng(3)
    return (0.01 * rng.standard_normal((2, int(seconds * 48000)))).astype(np.float32)


def write_hls(stream: str, folder: str) -> str:
    """``stream`` as an HLS playlist (``index.m3u8``, 2 s segments, complete) in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", stream, "-c", "copy", "-f", "hls", "-hls_time", "2",
                    "-hls_playlist_type", "vod", os.path.join(folder, "index.m3u8")], check=True)  # fmt: skip
    return folder


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _Gated(_Quiet):
    """Holds each request until the server's ``gate`` is open (the playlist is not held)."""

    def do_GET(self) -> None:
        if not self.path.endswith(".m3u8"):
            self.server.gate.wait(60)
        super().do_GET()


def serve_folder(folder: str, port: int = 0, gate: threading.Event | None = None) -> http.server.ThreadingHTTPServer:
    """``folder`` over HTTP on 127.0.0.1 (``port`` 0: any free one), in a daemon thread. With
    ``gate``, segment requests wait until it is set: a watch can be held before its stream."""
    handler = functools.partial(_Gated if gate is not None else _Quiet, directory=folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.gate = gate
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
