"""What one system predicted on the video data set, with its timings."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..metrics import Box


@dataclass
class SystemRun:
    """Predictions of one system on the data set, with its timings."""

    name: str
    predictions: list[Box] = field(default_factory=list)
    register_seconds: float = 0.0
    registered_seconds: float = 0.0  # media duration registered
    scan_seconds: float = 0.0
    scanned_seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)
    index_bytes: int = 0
    peak_rss_mb: float = 0.0
