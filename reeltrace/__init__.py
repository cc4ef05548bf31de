"""reeltrace: find which segments of which registered works a video reuses.

The pipeline, one module per stage::

    media (decode, sample) -> regions, visual (descriptors) -> index (store, search)
    -> candidates -> align (segments) -> decide (calibrated score) -> report

``Library`` is the API over all of it; the CLI (``reeltrace.cli``) is a thin shell over it.
"""

from .library import Library, LibraryError
from .media import MediaError
from .records import CATEGORIES, ScanResult, Segment, Work, WorkMatch

__all__ = ["CATEGORIES", "Library", "LibraryError", "MediaError", "ScanResult", "Segment", "Work", "WorkMatch"]
__version__ = "0.1.0"
