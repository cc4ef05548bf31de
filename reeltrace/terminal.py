"""Progress on the terminal for the CLI's batches (register, scan, extract), drawn by rich.

Bars go to standard error, and only when it is a terminal and ``--quiet`` is not given, so
a pipeline or a log file sees exactly what it saw before: the results on standard output and
one line per failed input on standard error. While the bars are drawn, lines written to
standard error appear above them; lines to standard output too when it is the same kind of
terminal (rich moves them through its console so the bars are not torn), never when it is
a pipe or a file.
"""

from __future__ import annotations

import os
import sys
import threading

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .report.formats import display


class BatchProgress:
    """Two bars: the file being worked on (seconds of it decoded, the slower of its picture
    and sound), and the batch (files done of all). A no-op when not drawn."""

    def __init__(self, files: int, verb: str, quiet: bool = False):
        console = Console(stderr=True)
        self.enabled = not quiet and console.is_terminal and files > 0
        self._files = files
        self._verb = verb
        self._lock = threading.Lock()
        self._reached: dict[str, float] = {}
        self._bar: Progress | None = None
        self._file_task: TaskID | None = None
        self._batch_task: TaskID | None = None
        if self.enabled:
            self._bar = Progress(
                TextColumn("{task.description}", style="bold"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
                redirect_stdout=sys.stdout.isatty(), redirect_stderr=True,
            )  # fmt: skip

    def __enter__(self) -> BatchProgress:
        if self._bar is not None:
            self._bar.start()
            if self._files > 1:
                self._batch_task = self._bar.add_task(f"{self._verb} {self._files} files", total=self._files)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start(self, path: str):
        """A new file: its bar, and the ``Library`` progress callback that fills it (None
        when not drawn)."""
        if self._bar is None:
            return None
        with self._lock:
            self._reached = {}
            if self._file_task is not None:
                self._bar.remove_task(self._file_task)
            name = display(os.path.basename(os.path.normpath(path)) or path)
            self._file_task = self._bar.add_task(name[:48], total=None)
        return self._on_progress

    def _on_progress(self, stream: str, seconds: float, duration: float) -> None:
        with self._lock:
            self._reached[stream] = max(seconds, self._reached.get(stream, 0.0))
            if self._file_task is not None and duration > 0:
                self._bar.update(self._file_task, completed=min(min(self._reached.values()), duration), total=duration)

    def done(self) -> None:
        """The current file is finished (matched, registered or failed)."""
        if self._bar is None:
            return
        with self._lock:
            if self._file_task is not None:
                self._bar.remove_task(self._file_task)
                self._file_task = None
            if self._batch_task is not None:
                self._bar.advance(self._batch_task)
