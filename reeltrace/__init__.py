"""reeltrace: find which segments of which registered works a video reuses.

The pipeline, one package per stage, video and audio as two parallel chains::

    media (decode, sample) -+-> video (regions, embed, index, candidates, align, score) -+-> fuse -> report
                            +-> audio (landmarks, index, match, verify, score) ----------+
    storage (database, descriptor files, index segments) under both

``Library`` is the API over all of it; the CLI (``reeltrace.cli``) is a thin shell over it.
"""

__version__ = "0.1.0"  # before the imports: library writes it into features files

from .library import Library, LibraryError
from .media import MediaError
from .records import CATEGORIES, ScanResult, Segment, Work, WorkMatch

__all__ = ["CATEGORIES", "Library", "LibraryError", "MediaError", "ScanResult", "Segment", "Work", "WorkMatch"]
