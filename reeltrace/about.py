"""The versions that say what produced a result: the package, the visual model, the audio
fingerprint and the library schema (stored descriptors and fingerprints are searchable only
by builds that agree on the last three)."""

from __future__ import annotations


def version_text(model: str | None = None) -> str:
    """One line, as ``reeltrace --version`` prints it and evidence reports state it;
    ``model``: the library's visual model (default: the one a new library gets)."""
    from . import __version__
    from .audio.config import FINGERPRINT_VERSION
    from .storage.store import SCHEMA_VERSION
    from .video.embed import DEFAULT_MODEL

    return (f"reeltrace {__version__} (visual model {model or DEFAULT_MODEL}, audio fingerprint v{FINGERPRINT_VERSION}, "
            f"library schema v{SCHEMA_VERSION})")  # fmt: skip
