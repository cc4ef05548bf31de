"""``python -m reeltrace.service --library DIR [--host H] [--port P] [--allow-path DIR]...``

The same as ``reeltrace serve``; used by the test suite to start a real server process.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import ServeError, add_database_arguments, add_limit_arguments, add_monitor_arguments, add_rights_arguments, serve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reeltrace.service", description="Run the reeltrace service.")
    p.add_argument("--library", default=os.environ.get("REELTRACE_LIBRARY") or "reeltrace-library")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--allow-path", action="append", default=[], metavar="DIR",
                   help="server folder whose files may be registered or scanned by path (repeatable)")
    p.add_argument("--workers", type=int, default=1, help="background job threads (default 1)")
    p.add_argument("--max-upload-mb", type=float, default=None, help="upload size limit in MiB (default 4096)")
    add_limit_arguments(p)
    add_monitor_arguments(p)
    add_rights_arguments(p)
    add_database_arguments(p)
    p.add_argument("--log-level", default="info")
    p.add_argument("--secure-cookie", action="store_true", help="mark the login cookie Secure (behind HTTPS)")
    args = p.parse_args(argv)
    try:
        serve(args.library, args.host, args.port, allowed_paths=args.allow_path, workers=args.workers,
              max_upload_bytes=int(args.max_upload_mb * (1 << 20)) if args.max_upload_mb else None,
              log_level=args.log_level, secure_cookie=args.secure_cookie, max_duration_s=args.max_duration_s,
              max_pixels=args.max_pixels, max_job_s=args.max_job_s, max_monitors=args.max_monitors,
              max_monitors_per_account=args.max_monitors_per_account, sse_keepalive_s=args.sse_keepalive_s,
              source_networks=args.allow_source_network, claim_response_days=args.claim_response_days,
              check_workers=args.check_workers, database=args.database, job_lease_s=args.job_lease_s)  # fmt: skip
    except ServeError as err:
        print(f"reeltrace: {err}", file=sys.stderr)
        return 2 if err.usage else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
