"""The ``reeltrace`` command: a thin shell over ``reeltrace.library.Library``.

Exit status: 0 when every input was processed (matched or not), 1 when any input failed
(after all the others were processed), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from datetime import datetime, timezone

from rich.console import Console

from . import features
from .about import version_text
from .library import LIBRARY_FAULTS, Library, input_error
from .media import MEDIA_SUFFIXES, expand_paths
from .records import CATEGORIES
from .report import formats as report
from .report.formats import display
from .storage.files import atomic_write, atomic_write_text
from .terminal import BatchProgress
from .video.embed import DEFAULT_MODEL

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _error(message: str) -> None:
    print(f"reeltrace: {message}", file=sys.stderr)


def _write_output(text: str, output: str | None) -> None:
    if output is None or output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write_text(output, text)


def output_problem(path: str | None, flag: str) -> str | None:
    """Why ``path`` cannot take a report (``--output``, ``--report``), checked before any
    work: a scan of a folder can take an hour, and its results must not be lost to a
    mistyped path at the end. One rule for every output: the file's folder must exist
    (nothing is created silently), and the path must not be a folder itself."""
    if path is None or path == "-":
        return None
    if os.path.isdir(path):
        return f"{flag} {display(path)} is a folder; give a file name"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"{flag} {display(path)}: folder {display(folder)} does not exist"
    if not os.access(folder, os.W_OK):
        return f"{flag} {display(path)}: folder {display(folder)} is not writable"
    return None


class _PrintVersion(argparse.Action):
    """``--version`` on one line: argparse's own action wraps it to the terminal's width."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds >= 0")
    return value


def _ray_address(text: str) -> str:
    from .cluster import parse_address  # not Ray itself: only --ray's use imports it

    try:
        return parse_address(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _ray_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--ray", metavar="ADDRESS", type=_ray_address,
                        help=f"{what} as Ray tasks on the cluster at ADDRESS: auto (the running cluster), HOST:PORT, "
                        "ray://HOST:PORT, or local:N (N CPUs here); the files must be at the same path on every "
                        "node (docs/scale-out.md)")  # fmt: skip


def _log_stages(verbosity: int) -> None:
    """Show the library's stage log (``logging`` under "reeltrace") on standard error: -v
    what each stage did, -vv each candidate work as well. Set here, at the program's edge:
    the library only logs, and a program embedding it decides where its log goes."""
    import logging

    from rich.logging import RichHandler

    handler = RichHandler(console=Console(stderr=True), show_path=False, show_level=verbosity > 1,
                          log_time_format="%H:%M:%S")  # fmt: skip
    logger = logging.getLogger("reeltrace")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


def _library_arg(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument(
        "--library",
        metavar="DIR",
        default=default,
        help="library folder (default: $REELTRACE_LIBRARY, else ./reeltrace-library); created by the first register",
    )
    parser.add_argument("-q", "--quiet", action="store_true", default=False if default is None else default,
                        help="no progress bars (they are drawn on standard error, and only on a terminal)")  # fmt: skip
    parser.add_argument("-v", "--verbose", action="count", default=0 if default is None else default,
                        help="say what each stage does, on standard error (-vv: per candidate work too)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reeltrace",
        description="Register film, TV and audio works; find which segments of them a video or audio file reuses, "
        "by picture and by sound.",
    )
    _library_arg(parser, None)
    parser.add_argument("--version", action=_PrintVersion, nargs=0, help="show the versions and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _library_arg(p, argparse.SUPPRESS)  # accepted after the command too
        return p

    p = command("register", "register each file as a work and print its id")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="media files, features files (.npz from 'reeltrace extract'), or folders of either")  # fmt: skip
    p.add_argument("--title", help="title (default: the file name)")
    p.add_argument("--owner", default="", help="rights holder")
    p.add_argument("--category", default=None, choices=list(CATEGORIES),
                   help="work category (default: film, or audio for a file with no picture)")
    p.add_argument("--id", dest="work_id", help="work id (default: derived from the content hash)")
    p.add_argument("--model", choices=["sscd_distilled", "sscd"], default=None,
                   help=f"descriptor model for a new library (default: {DEFAULT_MODEL})")  # fmt: skip
    _ray_arg(p, "decode, embed and fingerprint the files")

    p = command("scan", "report every segment of a registered work that each file reuses (picture, sound or both)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders to walk")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--output", metavar="FILE", help="write the report here instead of standard output")
    p.add_argument("--report", metavar="FILE.html",
                   help="also write a self-contained HTML evidence report (frame pairs embedded)")  # fmt: skip
    p.add_argument("--min-score", type=_fraction, default=0.0, metavar="S",
                   help="report only segments scored at least S (0-1; the thresholds already applied stay)")  # fmt: skip
    p.add_argument("--min-seconds", type=_seconds, default=0.0, metavar="T",
                   help="report only segments that last at least T seconds of the query")  # fmt: skip
    p.add_argument("--claimant", metavar="TEXT",
                   help="with --report: who claims, and how to reach them (e.g. 'Northlight Studios, legal@...')")  # fmt: skip
    p.add_argument("--found-at", metavar="URL",
                   help="with --report and one file: where the file was found (the infringing URL)")  # fmt: skip
    _ray_arg(p, "decode, embed and fingerprint the files (the lookups run here)")

    p = sub.add_parser("extract", help="write each file's descriptors and audio fingerprint as a features file "
                       "(.npz) that 'register' accepts", description="Extract what registering each file would "
                       "store (picture descriptors, audio fingerprint) into DIR/NAME.npz, without a library: the "
                       "expensive part of registering, for another machine or a later 'reeltrace register DIR'.")  # fmt: skip
    p.add_argument("paths", nargs="+", metavar="PATH", help="media files, or folders to walk")
    p.add_argument("--output", required=True, metavar="DIR", help="folder for the .npz files (created)")
    p.add_argument("--model", choices=["sscd_distilled", "sscd"], default=DEFAULT_MODEL,
                   help=f"descriptor model: that of the library the files are for (default: {DEFAULT_MODEL})")  # fmt: skip
    _ray_arg(p, "extract the files")

    p = command("init", "create a library, or choose where it keeps its vectors (docs/scale-out.md)")
    p.add_argument("--catalogue", metavar="URL",
                   help="postgresql://USER@HOST:PORT/DATABASE: keep a new library's catalogue (works, fingerprints, "
                   "which file holds what) in PostgreSQL instead of library.sqlite, so that several machines "
                   "mounting the library folder share it; chosen when the library is made")  # fmt: skip
    p.add_argument("--vectors", metavar="URI",
                   help="faiss (the default: index files in the library folder), milvus-lite[:FILE.db] (Milvus Lite "
                   "in the library folder; one process at a time) or milvus://HOST:PORT/COLLECTION[?index=HNSW] "
                   "(a Milvus server or cluster; token in $REELTRACE_MILVUS_TOKEN); the works registered move there")  # fmt: skip

    p = command("index", "show the vector index, or retrain and rebuild it (docs/index.md)")
    p.add_argument("action", choices=["status", "rebuild"],
                   help="status: what it holds and whether it wants a rebuild; rebuild: retrain the codec on the "
                   "whole catalogue and rebuild every segment (resumable, registers and scans go on meanwhile)")  # fmt: skip

    p = command("watch", "follow live streams and report, as it happens, when a registered work is on air")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="an HLS playlist URL (http://.../index.m3u8), an RTMP, RTSP, SRT or UDP MPEG-TS URL, "
                   "or a file that is still being written")  # fmt: skip
    p.add_argument("--format", choices=["jsonl", "table"], default="jsonl",
                   help="jsonl: one JSON object per event, as it happens (start, update, end, error, reconnect)")  # fmt: skip
    p.add_argument("--output", metavar="FILE", help="append the events here instead of standard output")
    p.add_argument("--window", type=_seconds, default=15.0, metavar="S",
                   help="seconds of stream each match looks at (default 15)")  # fmt: skip
    p.add_argument("--timeout", type=_seconds, default=10.0, metavar="S",
                   help="a source silent this long has dropped (a URL: reconnect; a file: it has ended; default 10)")  # fmt: skip

    p = command("works", "list registered works, or change one's title, owner or category")
    p.add_argument("action", nargs="?", choices=["list", "edit"], default="list",
                   help="list (the default), or edit WORK_ID")  # fmt: skip
    p.add_argument("work_id", nargs="?", metavar="WORK_ID", help="with edit: the work to change")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--title", help="with edit: the new title")
    p.add_argument("--owner", help="with edit: the new owner (rights holder)")
    p.add_argument("--category", choices=list(CATEGORIES), help="with edit: the new category")

    p = command("remove", "remove a work from the library")
    p.add_argument("work_id", metavar="WORK_ID")

    p = command("serve", "run the HTTP service and web console over the library (docs/service.md)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--allow-path", action="append", default=[], metavar="DIR",
                   help="server folder whose files may be registered or scanned by path (repeatable)")  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="background job threads (default 1)")
    p.add_argument("--max-upload-mb", type=float, default=None, help="upload size limit in MiB (default 4096)")
    p.add_argument("--secure-cookie", action="store_true", help="mark the login cookie Secure (behind HTTPS)")
    from .service import add_database_arguments, add_limit_arguments, add_monitor_arguments, add_rights_arguments

    add_limit_arguments(p)
    add_monitor_arguments(p)
    add_rights_arguments(p)
    add_database_arguments(p)

    p = sub.add_parser("bench", help="build a labelled data set from real media, run reeltrace on it, report",
                       description="Build a labelled copy-detection data set from real media (edits made with "
                       "FFmpeg), run reeltrace and baselines on it, and report accuracy and speed.")  # fmt: skip
    p.add_argument("--media", action="append", metavar="DIR",
                   help="media folder (repeatable; default: ../shared/media and ~/.cache/reeltrace-media)")  # fmt: skip
    p.add_argument("--out", default="bench-out", metavar="DIR", help="data set and results folder (default: bench-out)")
    p.add_argument("--quick", action="store_true", help="the fixed quick subset (about 60 queries)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline", action="append", default=[], choices=["vpdq", "chromaprint", "audfprint"],
                   help="also run a baseline (vpdq; with --audio, chromaprint or audfprint on a finished run)")  # fmt: skip
    p.add_argument("--rebuild", action="store_true", help="rebuild the data set even if one exists")
    p.add_argument("--audio", action="store_true", help="the audio fingerprint benchmark (real music and speech)")
    p.add_argument("--model", choices=["sscd_distilled", "sscd"], default=None, help="descriptor model to measure")
    p.add_argument("--scale", nargs="?", const="10,100,1000", metavar="HOURS",
                   help="instead: the library grown with distractor works to each size in HOURS (default "
                   "10,100,1000), measured at each (docs/index.md)")  # fmt: skip
    p.add_argument("--fuzz", type=int, metavar="N", help="instead: N hostile mutants of generated media through "
                   "scan and register (no media needed; with --seed, --out)")  # fmt: skip
    return parser


def _inputs(paths: list[str], suffixes: frozenset[str] = MEDIA_SUFFIXES) -> tuple[list[str], bool]:
    """The files that ``paths`` name (folders walked), and whether any folder held none:
    each such folder is its own one-line error, and the rest of the batch still runs."""
    files: list[str] = []
    empty = False
    for path in paths:
        found = expand_paths([path], suffixes)
        if not found and os.path.isdir(path):
            _error(f"{display(path)}: no media files in this folder")
            empty = True
        files += found
    return files, empty


def _bench(args: argparse.Namespace) -> int:
    from .bench.cli import bench

    return bench(args)


def _register(lib: Library, args: argparse.Namespace) -> int:
    paths, empty = _inputs(args.paths, MEDIA_SUFFIXES | {features.SUFFIX})
    if args.work_id and len(paths) > 1:
        _error("--id names one work: give one PATH with it")
        return EXIT_USAGE
    if args.title and len(paths) > 1:
        _error("--title names one work: give one PATH with it (without --title each work is titled by its file name)")
        return EXIT_USAGE
    return _on_cluster(args, functools.partial(_register_files, lib, args, paths, empty))


def _on_cluster(args: argparse.Namespace, run) -> int:
    """``run(jobs)``: jobs is the Ray cluster that ``--ray`` names (``cluster``), or None
    without --ray, when every file is read in this process."""
    if not getattr(args, "ray", None):
        return run(None)
    from .cluster import ClusterError, connect

    try:
        with connect(args.ray) as jobs:
            return run(jobs)
    except ClusterError as err:
        _error(str(err))
        return EXIT_FAILED


def _register_files(lib: Library, args: argparse.Namespace, paths: list[str], empty: bool, jobs) -> int:
    status = EXIT_FAILED if empty else EXIT_OK
    remote = None if jobs is None else jobs.register(lib, paths, title=args.title, owner=args.owner,
                                                     category=args.category, work_id=args.work_id)  # fmt: skip
    with BatchProgress(len(paths), "registering", args.quiet) as bars:
        for path in paths:
            progress = bars.start(path)
            if remote is not None:  # the files' results come in input order
                result = next(remote)
            else:
                result = lib.register(path, title=args.title, owner=args.owner, category=args.category,
                                      work_id=args.work_id, progress=progress)  # fmt: skip
            bars.done()
            if result.error:
                _error(f"{display(path)}: {result.error}")
                status = EXIT_FAILED
            elif result.created:
                print(f"{result.work.work_id}\tregistered\t{display(path)}", flush=True)
            else:
                print(f"{result.work.work_id}\talready registered\t{display(path)}", flush=True)
    advice = lib.index_advice()
    if advice:
        _error(advice)
    return status


def _extract(args: argparse.Namespace) -> int:
    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as err:
        _error(f"{display(args.output)}: cannot create the output folder ({err.strerror or err})")
        return EXIT_FAILED
    paths, empty = _inputs(args.paths)
    return _on_cluster(args, functools.partial(_extract_files, args, paths, empty))


def _extract_files(args: argparse.Namespace, paths: list[str], empty: bool, jobs) -> int:
    from .audio.config import AudioConfig
    from .library import extract_features
    from .media.container import MediaError
    from .video.config import VideoConfig
    from .video.embed import FrameEmbedder

    embedder = FrameEmbedder(args.model) if jobs is None else None
    remote = None if jobs is None else jobs.extract(paths, args.model)
    video, audio = VideoConfig(), AudioConfig()
    status = EXIT_FAILED if empty else EXIT_OK
    taken: set[str] = set()
    with BatchProgress(len(paths), "extracting", args.quiet) as bars:
        for path in paths:
            progress = bars.start(path)
            try:
                if remote is not None:  # (kind, value) in input order, from a Ray task
                    kind, value = next(remote)[1]
                    if kind == "error":
                        raise MediaError(value)
                    data, frames, digest = value
                    save = functools.partial(_save_bytes, data=data)
                else:
                    extracted = extract_features(path, embedder, video, audio, progress=progress)
                    frames, digest = len(extracted.timestamps), extracted.content_hash
                    save = functools.partial(_save_features, extracted=extracted)
            except Exception as err:  # one input's error, whatever it is: the batch goes on
                _error(f"{display(path)}: {input_error(err)}")
                status = EXIT_FAILED
                continue
            finally:
                bars.done()
            stem = os.path.splitext(os.path.basename(path))[0].lstrip(".") or "features"  # walks skip hidden files
            name = stem if stem not in taken else f"{stem}-{digest[:8]}"
            taken.add(name)
            target = os.path.join(args.output, name + features.SUFFIX)
            atomic_write(target, save, mode=0o666)
            print(f"{display(target)}\t{frames} frames\t{display(path)}", flush=True)
    return status


def _save_features(tmp: str, extracted) -> None:
    with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a path
        features.write(fh, extracted)


def _save_bytes(tmp: str, data: bytes) -> None:
    with open(tmp, "wb") as fh:
        fh.write(data)


def _init(lib: Library, args: argparse.Namespace) -> int:
    if args.vectors is not None:
        from rich.progress import BarColumn, Progress, TextColumn

        with Progress(TextColumn("moving vectors"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                      transient=True, console=Console(stderr=True),
                      disable=args.quiet or not sys.stderr.isatty()) as bar:  # fmt: skip
            task = bar.add_task("", total=1)
            lib.set_vectors(args.vectors, lambda stage, done, total: bar.update(task, completed=done, total=total))
    info = lib.index_status()
    print(f"{display(lib.folder)}\tcatalogue in {lib.catalogue.text()}\tvectors on {lib.vectors.text}\t"
          f"{info['works']} works, {info['vectors']:,} vectors")  # fmt: skip
    return EXIT_OK


def _index(lib: Library, args: argparse.Namespace) -> int:
    if args.action == "status":
        info = lib.index_status()
        print(json.dumps(info, indent=2))
        return EXIT_OK
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    labels = {"sample": "reading a training sample", "train": "training the codec", "add": "adding vectors"}
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), transient=True,
                  console=Console(stderr=True)) as bar:  # fmt: skip
        tasks: dict[str, object] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = lib.rebuild_index(progress)
    if lib.vectors.remote:
        print(f"index rebuilt on {lib.vectors.text}: {result.works} works, {result.vectors:,} vectors put again; "
              f"vectors of {result.orphans_deleted} removed works deleted; {result.removed_files} orphan files removed")  # fmt: skip
        return EXIT_OK
    if not result.nlist:
        print(f"index: {result.works} works, {result.vectors:,} vectors, all searched exactly (a small library needs "
              f"no trained index); {result.removed_files} orphan files removed")  # fmt: skip
        return EXIT_OK
    resumed = f", resumed after {result.resumed_from:,}" if result.resumed_from else ""
    print(f"index rebuilt: {result.works} works, {result.vectors:,} vectors, {result.nlist} lists, codec trained on "
          f"{result.trained_on:,}{resumed}; {result.removed_files} orphan files removed")  # fmt: skip
    return EXIT_OK


def _scan(lib: Library, args: argparse.Namespace) -> int:
    results = []
    started = datetime.now(timezone.utc)
    paths, empty = _inputs(args.paths)
    if args.found_at and len(paths) > 1:
        _error("--found-at is where one file was found: give one PATH with it")
        return EXIT_USAGE
    if not lib.works():
        _error(f"library {display(lib.folder)} has no registered works: every scan finds nothing")
    status = _on_cluster(args, functools.partial(_scan_files, lib, args, paths, results))
    if status != EXIT_OK:  # the cluster could not be used: nothing was scanned
        return status
    if args.min_score or args.min_seconds:
        results = report.at_least(results, args.min_score, args.min_seconds)
    # On the terminal each failure is said once, on standard error; a report file holds them all.
    table = functools.partial(report.scan_table, errors=args.output not in (None, "-"))
    render = {"json": report.scan_json, "csv": report.scan_csv, "table": table}[args.format]
    if results or args.format != "table":  # a table of nothing is a blank line; JSON and CSV keep their shape
        _write_output(render(results), args.output)
    if args.report:
        from .report import evidence

        evidence.write_report(results, args.report, library=lib.folder, scanned_at=started,
                              query_urls=[args.found_at] if args.found_at else None, claimant=args.claimant,
                              software=version_text(lib.model))  # fmt: skip
    return EXIT_FAILED if empty or any(r.error for r in results) else EXIT_OK


def _scan_files(lib: Library, args: argparse.Namespace, paths: list[str], results: list, jobs) -> int:
    remote = None if jobs is None else jobs.scan(lib, paths)
    with BatchProgress(len(paths), "scanning", args.quiet) as bars:
        for path in paths:
            progress = bars.start(path)
            result = next(remote) if remote is not None else lib.scan(path, progress=progress)
            bars.done()
            if result.error:
                _error(f"{display(path)}: {result.error}")
            results.append(result)
    return EXIT_OK


def _watch(folder: str, args: argparse.Namespace) -> int:
    from .live.watch import WatchParams, watch

    if problem := output_problem(args.output, "--output"):
        _error(problem)
        return EXIT_USAGE
    params = WatchParams(window=max(args.window, 4.0), timeout=max(args.timeout, 1.0))
    if args.output in (None, "-"):
        return watch(folder, args.sources, sys.stdout, args.format, params)
    with open(args.output, "a", encoding="utf-8") as out:
        return watch(folder, args.sources, out, args.format, params)


def _edit_work(lib: Library, args) -> int:
    if not args.work_id:
        _error("works edit: give the WORK_ID to change (reeltrace works lists them)")
        return EXIT_USAGE
    if args.title is None and args.owner is None and args.category is None:
        _error("works edit: nothing to change: give --title, --owner and/or --category")
        return EXIT_USAGE
    work = lib.edit(args.work_id, title=args.title, owner=args.owner, category=args.category)
    sys.stdout.write(report.works_json([work]) if args.format == "json" else f"{work.work_id}\tedited\t{display(work.title)!r} "
                     f"[{work.category}] owner={display(work.owner) or '-'}\n")  # fmt: skip
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "verbose", 0):
        _log_stages(args.verbose)
    if args.command == "bench":
        return _bench(args)
    if getattr(args, "ray", None):  # said before a library is created or anything read
        from .cluster import ray_missing

        if problem := ray_missing():
            _error(problem)
            return EXIT_FAILED
    if args.command == "extract":
        try:
            return _extract(args)
        except KeyboardInterrupt:
            _error("interrupted")
            return 130
    folder = args.library or os.environ.get("REELTRACE_LIBRARY") or "reeltrace-library"
    if args.command in ("scan", "works", "remove", "index", "watch") and not Library.exists(folder):
        # Only register creates a library: a mistyped --library must not become an empty one
        # whose every scan says "nothing found".
        _error(f"no library at {display(folder)} (register a work to create one, or check --library / $REELTRACE_LIBRARY)")
        return EXIT_FAILED
    if args.command == "scan":
        if (args.claimant or args.found_at) and not args.report:
            _error("--claimant and --found-at are written in the evidence report: add --report FILE.html")
            return EXIT_USAGE
        for path, flag in ((args.output, "--output"), (args.report, "--report")):
            if problem := output_problem(path, flag):
                _error(problem)
                return EXIT_USAGE
    if args.command == "watch":
        return _watch(folder, args)
    if args.command == "serve":
        from .service import ServeError, serve

        max_upload = int(args.max_upload_mb * (1 << 20)) if args.max_upload_mb else None
        try:
            serve(folder, args.host, args.port, allowed_paths=args.allow_path, workers=args.workers,
                  max_upload_bytes=max_upload, secure_cookie=args.secure_cookie, max_duration_s=args.max_duration_s,
                  max_pixels=args.max_pixels, max_job_s=args.max_job_s, max_monitors=args.max_monitors,
                  max_monitors_per_account=args.max_monitors_per_account, sse_keepalive_s=args.sse_keepalive_s,
                  source_networks=args.allow_source_network, claim_response_days=args.claim_response_days,
                  check_workers=args.check_workers, database=args.database, job_lease_s=args.job_lease_s)  # fmt: skip
        except ServeError as err:
            _error(str(err))
            return EXIT_USAGE if err.usage else EXIT_FAILED
        return EXIT_OK
    try:
        with Library(folder, model=getattr(args, "model", None), catalogue=getattr(args, "catalogue", None)) as lib:
            if args.command == "register":
                return _register(lib, args)
            if args.command == "scan":
                return _scan(lib, args)
            if args.command == "index":
                return _index(lib, args)
            if args.command == "init":
                return _init(lib, args)
            if args.command == "works" and args.action == "edit":
                return _edit_work(lib, args)
            if args.command == "works":
                if args.work_id or args.title is not None or args.owner is not None or args.category is not None:
                    _error("works: WORK_ID, --title, --owner and --category go with edit (reeltrace works edit WORK_ID --title ...)")
                    return EXIT_USAGE
                works = lib.works()
                text = report.works_json(works) if args.format == "json" else report.works_table(works)
                sys.stdout.write(text)
                return EXIT_OK
            if args.command == "remove":
                work = lib.remove(args.work_id)
                print(f"{work.work_id}\tremoved")
                return EXIT_OK
    except LIBRARY_FAULTS as err:
        _error(" ".join(str(err).split()) or type(err).__name__)
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
