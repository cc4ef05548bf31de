#!/usr/bin/env bash
# What `pip install .` gives a user: build the wheel, install it into a fresh venv
# (dependencies from PyPI, through pip's cache), and from a folder outside the checkout
# run the CLI, import every module, register and scan a generated clip, and check that
# `bench` without media fails in one line. The editable install the tests use cannot show
# a package missing from the wheel (it imports from the checkout).
#
# Usage: scripts/wheel_check.sh [PYTHON]   (default: the project venv's .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
python=${1:-.venv/bin/python}
started=$SECONDS
unset PYTHONPATH  # the checkout on the path would hide what the wheel lacks

work=$(mktemp -d "${TMPDIR:-/tmp}/reeltrace-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "wheel check: $*" >&2; exit 1; }

# A stale build/ would put modules deleted since into the wheel.
rm -rf build
"$python" -m pip wheel -v --no-deps -w "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "building the wheel failed"; }
rm -rf build
if grep -E '[A-Z][A-Za-z]*Warning:' "$work/build.log" >&2; then
  fail "building the wheel warned (above)"
fi
wheel=$(echo "$work"/dist/reeltrace-*.whl)
[ -f "$wheel" ] || fail "no wheel in $work/dist"

"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "$wheel"
bin=$work/venv/bin
mkdir "$work/outside"
cd "$work/outside"

"$bin/reeltrace" --help >/dev/null
"$bin/reeltrace" bench --help >/dev/null
"$bin/reeltrace" --version | grep -q "^reeltrace [0-9]"  # the installed package knows its versions

# Every module of the checkout's package, imported from the installed one; and the
# console's templates and static files.
"$bin/python" - "$checkout" <<'EOF'
import importlib
import os
import pkgutil
import sys

import reeltrace

checkout = sys.argv[1]
installed = os.path.dirname(reeltrace.__file__)
assert not installed.startswith(checkout), f"reeltrace imported from the checkout: {installed}"


def raise_error(name):
    raise ImportError(f"cannot import {name}")


SCALE = {"psycopg", "psycopg_pool", "pymilvus", "milvus_lite", "ray"}
"""What the `scale` extra installs (docs/scale-out.md): a plain install lacks it, and only
the modules of those backends may need it."""
modules = {"reeltrace"} | {m.name for m in pkgutil.walk_packages(reeltrace.__path__, "reeltrace.", onerror=raise_error)}
needs_scale = []
for name in sorted(modules):
    if name.endswith(".__main__"):  # importing it runs the CLI
        continue
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in SCALE:
            raise
        needs_scale.append(name)
assert len(needs_scale) <= 3, f"modules that need the scale extra: {needs_scale}"

source = os.path.join(checkout, "reeltrace")
expected, data = set(), set()
for root, dirs, files in os.walk(source):
    dirs[:] = [d for d in dirs if d != "__pycache__"]
    package = "reeltrace" + root[len(source):].replace(os.sep, ".")
    if "__init__.py" not in files:
        data |= {os.path.relpath(os.path.join(root, f), source) for f in files}
        continue
    expected |= {package} | {f"{package}.{f[:-3]}" for f in files if f.endswith(".py") and f != "__init__.py"}
missing = sorted(expected - modules)
assert not missing, f"modules missing from the wheel: {missing}"
absent = sorted(f for f in data if not os.path.isfile(os.path.join(installed, f)))
assert not absent, f"package data missing from the wheel: {absent}"
from reeltrace.service.routers import apidocs  # /docs without a CDN: Swagger UI from a dependency

for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
    assert os.path.isfile(os.path.join(apidocs.ASSETS_FOLDER, asset)), f"/docs asset missing: {asset}"
print(f"wheel check: {len(modules) - len(needs_scale)} modules import ({', '.join(needs_scale) or 'none'} need the scale "
      f"extra), {len(data)} data files present, /docs assets present")
EOF

ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=320x240:rate=25:duration=8 \
  -f lavfi -i sine=frequency=440:duration=8 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest clip.mp4
"$bin/reeltrace" --library lib register clip.mp4 --id wheel-clip --title "Wheel check" >/dev/null
"$bin/reeltrace" --library lib scan clip.mp4 --format json --output scan.json
"$bin/python" -c '
import json, sys
(result,) = json.load(open("scan.json"))["results"]
found = [m["work_id"] for m in result["matches"]]
assert found == ["wheel-clip"], f"scanning the registered clip found {found}"
'

# The scale-out options without the scale extra: one line that says what to install.
for command in "--library lib3 init --vectors milvus-lite" "--library lib3 register clip.mp4 --ray local:1" \
               "--library lib3 serve --port 0 --database postgresql://nobody@127.0.0.1:1/none"; do
  status=0
  # shellcheck disable=SC2086
  "$bin/reeltrace" $command 2>scale.err >/dev/null || status=$?
  if [ "$status" -eq 0 ] || grep -q Traceback scale.err || [ "$(wc -l <scale.err)" -gt 1 ] || ! grep -q "reeltrace\[scale\]" scale.err; then
    cat scale.err >&2
    fail "reeltrace $command without the scale extra: status $status, stderr above (expected one line naming reeltrace[scale])"
  fi
done

# Without media the benchmark cannot run; it must say so in a line, not a traceback.
mkdir empty
status=0
"$bin/reeltrace" bench --quick --media empty --out bench-out 2>bench.err >/dev/null || status=$?
if [ "$status" -eq 0 ] || grep -q Traceback bench.err || [ "$(wc -l <bench.err)" -gt 2 ]; then
  cat bench.err >&2
  fail "bench without media: status $status, stderr above (expected a failure in a line or two)"
fi

echo "wheel check: passed in $((SECONDS - started)) s"
