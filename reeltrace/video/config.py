"""Video chain parameters, one frozen record passed in (``Library(video=...)``).

Each stage's tunables are a frozen dataclass defined beside the code that reads them, with
the measured reason for each value; ``VideoConfig`` gathers them in the order the data
flows. A variant is ``dataclasses.replace(config, alignment=replace(config.alignment, ...))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .align import AlignParams
from .background import BackgroundParams
from .candidates import RetrievalParams
from .embed import ViewParams
from .layouts import LayoutParams
from .regions import RegionParams, WindowParams
from .score import DEFAULT_SCORE_MODEL, ScoreModel
from .screens import ScreenParams
from .shots import ShotParams


@dataclass(frozen=True, kw_only=True)
class VideoConfig:
    sample_fps: float = 2.0
    """Frames sampled per second, for works and queries alike, chosen on the trailer
    (docs/design.md): at 1/s shots of one film merged across cuts and three of its six
    pieces were missed; at 2/s all six are found, work times within 0.60 s; at 4/s within
    0.42 s, for four times the descriptors of 1/s and twice those of 2/s (register speed
    falls with them)."""
    views: ViewParams = field(default_factory=ViewParams)
    """Which pictures are embedded: the detection window, when a region counts, blank frames."""
    regions: RegionParams = field(default_factory=RegionParams)
    """Content box: which edge bands are trimmed (``regions``)."""
    windows: WindowParams = field(default_factory=WindowParams)
    """Picture-in-picture windows, embedded as extra query views (``regions``)."""
    layouts: LayoutParams = field(default_factory=LayoutParams)
    """Parts of a duet, stitch, grid, desktop, web page or filmed screen, embedded as extra
    query views (``layouts``)."""
    screens: ScreenParams = field(default_factory=ScreenParams)
    """A filmed screen's quadrilateral, rectified and embedded as a query view (``screens``)."""
    shots: ShotParams = field(default_factory=ShotParams)
    """Which consecutive work frames are stored as one descriptor (``shots``)."""
    background: BackgroundParams = field(default_factory=BackgroundParams)
    """The genericness penalty on query similarities (``background``)."""
    retrieval: RetrievalParams = field(default_factory=RetrievalParams)
    alignment: AlignParams = field(default_factory=AlignParams)
    scoring: ScoreModel = DEFAULT_SCORE_MODEL

    @property
    def sample_step(self) -> float:
        return 1.0 / self.sample_fps
