"""Copy a library whose catalogue is ``library.sqlite`` into a new library whose catalogue is in
PostgreSQL (``init --catalogue``), to measure the two side by side on the same works.

    .venv/bin/python scripts/copy_catalogue.py SOURCE_LIBRARY NEW_FOLDER postgresql://...

Every work is added with its descriptor file (copied) and audio fingerprint, as a register
adds it; the index is then rebuilt from the files, as ``reeltrace index rebuild`` does. A
bench tool, not the product's way to move a catalogue (docs/scale-out.md says what is built).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import replace

from rich.progress import track

from reeltrace.library import STORE_FILE, Library
from reeltrace.storage.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("dest")
    parser.add_argument("url")
    args = parser.parse_args()
    if os.path.exists(args.dest):
        sys.exit(f"{args.dest} exists: give a new folder")
    source = Store(os.path.join(args.source, STORE_FILE))
    state = source.visual_state()
    entries = {e.key: e for e in state.entries}
    _, fingerprints = source.audio_features()
    audio = dict(fingerprints)
    started = time.perf_counter()
    with Library(args.dest, catalogue=args.url) as lib:
        for work in track(source.works(), description="works"):
            entry = entries.get(work.key)
            if entry is not None:
                target = os.path.join(args.dest, entry.file)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(os.path.join(args.source, entry.file), target)
                entry = replace(entry, key=0, segment=None)
            lib.store.add_work(replace(work, key=0), entry, audio.get(work.key))
        added = time.perf_counter() - started
        lib.rebuild_index()
    print(f"{len(source.works())} works added in {added:.1f} s; index rebuilt in "
          f"{time.perf_counter() - started - added:.1f} s; catalogue in {lib.catalogue.text()}")  # fmt: skip
    source.close()


if __name__ == "__main__":
    main()
