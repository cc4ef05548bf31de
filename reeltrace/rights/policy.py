"""What a rights holder asks for when a work of theirs is found in an upload: a ``Policy``
(an action and the conditions a match must meet), a match measured for it (``Reuse``), and
the decision for the whole upload (the strictest action its claims ask for).

The conditions are the ones rights desks write in their contracts (Content ID's "match
length" and "percentage of the reference" settings are the same two numbers):

- ``min_seconds``: seconds of the upload that show the work (segments' union on the
  upload's time axis: a clip that shows the same second twice counts it once);
- ``min_query_share``: those seconds over the upload's length (a 3 s quote in a 40 min
  review is 0.1%, a re-upload 100%);
- ``min_work_share``: seconds of the *work* shown (union on the work's axis) over the
  work's length (a trailer reuses 2% of a film, a re-upload 100%);
- ``modality``: what must show the reuse. ``video``: the picture (a match whose segments
  are ``video`` or ``audio+video``); ``audio``: the sound (``audio`` or ``audio+video``);
  ``audio+video``: both at once on one segment; ``any``: either. A label that licenses its
  music for dance videos but not its music videos writes ``video``;
- ``review_below``: a match that meets the conditions with a score under this goes to
  the owner's review queue (claim state ``in_review``) instead of being claimed at once:
  the scan's scores are calibrated (docs/calibration.md), and a holder who wants a person
  to look at the weaker ones says where "weaker" starts.

A match meets a policy when every condition holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..intervals import union_length
from ..records import WorkMatch
from ..roundtrip import Record

ACTIONS = ("track", "monetize", "block")
"""A policy's actions, from the mildest: ``track`` only counts the reuse (reach), ``monetize``
claims the upload's revenue, ``block`` asks the platform not to publish it."""
DECISIONS = ("allow",) + ACTIONS
"""What an upload-time check answers: ``allow`` when no claim applies."""
MODALITIES = ("any", "video", "audio", "audio+video")


class PolicyError(ValueError):
    """A policy that cannot be applied (an unknown action, a share outside 0..1)."""


@dataclass(frozen=True)
class Policy(Record):
    action: str = "track"
    min_seconds: float = 0.0
    min_query_share: float = 0.0
    min_work_share: float = 0.0
    modality: str = "any"
    review_below: float | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise PolicyError(f"action must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        if self.modality not in MODALITIES:
            raise PolicyError(f"modality must be one of {', '.join(MODALITIES)}, not {self.modality!r}")
        if not 0.0 <= self.min_seconds < 1e7:
            raise PolicyError("min_seconds must be at least 0")
        for name in ("min_query_share", "min_work_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise PolicyError(f"{name} must be between 0 and 1")
        if self.review_below is not None and not 0.0 <= self.review_below <= 1.0:
            raise PolicyError("review_below must be between 0 and 1, or null")

    def met_by(self, reuse: Reuse) -> bool:
        """Whether ``reuse`` meets every condition."""
        return (reuse.seconds >= self.min_seconds and reuse.query_share >= self.min_query_share
                and reuse.work_share >= self.min_work_share and _shows(reuse, self.modality))  # fmt: skip

    def needs_review(self, reuse: Reuse) -> bool:
        """Whether a reuse that meets the policy goes to the owner's review queue first."""
        return self.review_below is not None and reuse.score < self.review_below


DEFAULT_POLICY = Policy()
"""A work whose owner set no policy, and no default for its works: every match is tracked
(counted in the work's reach), nothing is claimed against the upload's revenue or refused."""


@dataclass(frozen=True)
class Reuse(Record):
    """One work's match in one upload, measured for a policy."""

    work_id: str
    seconds: float  # of the upload showing the work
    query_share: float  # seconds / the upload's length
    work_seconds: float  # of the work shown
    work_share: float  # work_seconds / the work's length
    score: float
    modalities: tuple[str, ...]  # of its segments, distinct, sorted

    @classmethod
    def of(cls, match: WorkMatch, query_duration: float) -> Reuse:
        shown = union_length((s.query_start, s.query_end) for s in match.segments)
        used = union_length((s.work_start, s.work_end) for s in match.segments)
        return cls(
            work_id=match.work.work_id,
            seconds=shown,
            query_share=min(shown / query_duration, 1.0) if query_duration > 0 else 0.0,
            work_seconds=used,
            work_share=min(used / match.work.duration, 1.0) if match.work.duration > 0 else 0.0,
            score=match.score,
            modalities=tuple(sorted({s.modality for s in match.segments} or {match.modality})),
        )


def _shows(reuse: Reuse, modality: str) -> bool:
    if modality == "any":
        return True
    if modality == "audio+video":
        return "audio+video" in reuse.modalities
    return any(modality in m.split("+") for m in reuse.modalities)


def strictest(actions: list[str]) -> str:
    """The decision for an upload whose claims ask for ``actions``: block > monetize > track,
    ``allow`` when there are none."""
    return max(actions, key=ACTIONS.index) if actions else "allow"
