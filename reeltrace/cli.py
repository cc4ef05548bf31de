"""The ``reeltrace`` command: a thin shell over ``reeltrace.library.Library``.

Exit status: 0 when every input was processed (matched or not), 1 when any input failed
(after all the others were processed), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys

from .library import LIBRARY_FAULTS, Library
from .media import expand_paths
from .records import CATEGORIES
from .report import formats as report
from .report.formats import display
from .storage.files import atomic_write_text
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


def _library_arg(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument(
        "--library",
        metavar="DIR",
        default=default,
        help="library folder (default: $REELTRACE_LIBRARY, else ./reeltrace-library); created on first use",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reeltrace",
        description="Register film, TV and audio works; find which segments of them a video or audio file reuses, "
        "by picture and by sound.",
    )
    _library_arg(parser, None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _library_arg(p, argparse.SUPPRESS)  # accepted after the command too
        return p

    p = command("register", "register each file as a work and print its id")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--title", help="title (default: the file name)")
    p.add_argument("--owner", default="", help="rights holder")
    p.add_argument("--category", default="film", choices=list(CATEGORIES), help="work category (default: film)")
    p.add_argument("--id", dest="work_id", help="work id (default: derived from the content hash)")
    p.add_argument("--model", choices=["sscd_distilled", "sscd"], default=None,
                   help=f"descriptor model for a new library (default: {DEFAULT_MODEL})")  # fmt: skip

    p = command("scan", "report every segment of a registered work that each file reuses (picture, sound or both)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders to walk")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--output", metavar="FILE", help="write the report here instead of standard output")
    p.add_argument("--report", metavar="FILE.html",
                   help="also write a self-contained HTML evidence report (frame pairs embedded)")  # fmt: skip

    p = command("works", "list registered works")
    p.add_argument("--format", choices=["table", "json"], default="table")

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
    from .service import add_limit_arguments

    add_limit_arguments(p)

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
    p.add_argument("--fuzz", type=int, metavar="N", help="instead: N hostile mutants of generated media through "
                   "scan and register (no media needed; with --seed, --out)")  # fmt: skip
    return parser


def _bench(args: argparse.Namespace) -> int:
    from .bench.cli import bench

    return bench(args)


def _register(lib: Library, args: argparse.Namespace) -> int:
    paths = expand_paths(args.paths)
    if args.work_id and len(paths) > 1:
        _error("--id names one work: give one PATH with it")
        return EXIT_USAGE
    status = EXIT_OK
    for path in paths:
        result = lib.register(path, title=args.title, owner=args.owner, category=args.category, work_id=args.work_id)
        if result.error:
            _error(f"{display(path)}: {result.error}")
            status = EXIT_FAILED
        elif result.created:
            print(f"{result.work.work_id}\tregistered\t{display(path)}", flush=True)
        else:
            print(f"{result.work.work_id}\talready registered\t{display(path)}", flush=True)
    return status


def _scan(lib: Library, args: argparse.Namespace) -> int:
    results = []
    for path in expand_paths(args.paths):
        result = lib.scan(path)
        if result.error:
            _error(f"{display(path)}: {result.error}")
        results.append(result)
    render = {"json": report.scan_json, "csv": report.scan_csv, "table": report.scan_table}[args.format]
    _write_output(render(results), args.output)
    if args.report:
        from .report import evidence

        evidence.write_report(results, args.report, library=lib.folder)
    return EXIT_FAILED if any(r.error for r in results) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        return _bench(args)
    folder = args.library or os.environ.get("REELTRACE_LIBRARY") or "reeltrace-library"
    if args.command == "serve":
        from .service import serve

        max_upload = int(args.max_upload_mb * (1 << 20)) if args.max_upload_mb else None
        serve(folder, args.host, args.port, allowed_paths=args.allow_path, workers=args.workers,
              max_upload_bytes=max_upload, secure_cookie=args.secure_cookie, max_duration_s=args.max_duration_s,
              max_pixels=args.max_pixels, max_job_s=args.max_job_s)  # fmt: skip
        return EXIT_OK
    try:
        with Library(folder, model=getattr(args, "model", None)) as lib:
            if args.command == "register":
                return _register(lib, args)
            if args.command == "scan":
                return _scan(lib, args)
            if args.command == "works":
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
