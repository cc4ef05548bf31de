#!/usr/bin/env bash
# Fetch the demo media into DEST (default: ~/.cache/reeltrace-media/film):
#   bbb.mp4 (Big Buck Bunny, 596 s, 720p, CC-BY 3.0 Blender Foundation), trailer_bbb.mp4 (a
#   55 s trailer a third party cut from it) and trailer.py (the script that cut it: ground
#   truth). All three ship in the moviepy 2.2.1 source package on PyPI. Idempotent.
set -euo pipefail
dest=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/reeltrace-media/film}
mkdir -p "$dest"
if [[ -s $dest/bbb.mp4 && -s $dest/trailer_bbb.mp4 && -s $dest/trailer.py ]]; then echo "$dest"; exit 0; fi
python=${PYTHON:-python3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "fetching the demo media into $dest (the moviepy 2.2.1 source package from PyPI)" >&2
"$python" -m pip download -q --no-deps --no-binary :all: moviepy==2.2.1 -d "$tmp" > "$tmp/pip.log" 2>&1 \
  || { cat "$tmp/pip.log" >&2; echo "fetching the demo media failed (pip's output above)" >&2; exit 1; }
docs=moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes
tar -xzf "$tmp"/moviepy-2.2.1.tar.gz -C "$tmp" "$docs"
"$python" - "$tmp/$docs" "$dest" <<'PY'
import shutil, sys, zipfile, pathlib
src, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
shutil.copy(src / "trailer_bbb.mp4", dest / "trailer_bbb.mp4")
with zipfile.ZipFile(src / "moviepy_10_minutes.zip") as z:
    for member, name in (("moviepy_10_minutes/resources/bbb.mp4", "bbb.mp4"), ("moviepy_10_minutes/trailer.py", "trailer.py")):
        with z.open(member) as fh, open(dest / name, "wb") as out:
            shutil.copyfileobj(fh, out)
PY
echo "$dest"
