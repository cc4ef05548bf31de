"""A claim's life: the states, the actions that move it, and who may take each.

::

    in_review --uphold--> active --dispute--> disputed --uphold--> upheld --appeal--> appealed
        |                   |                    |                    |                  |
        +-----release-------+------release-------+------release-------+-----release------+--> released
                            +------takedown-------------------------- +-----takedown-----+--> takedown

- A match that meets its work's policy becomes an ``active`` claim (the policy's action
  applies), or ``in_review`` when its score is under the policy's ``review_below``: the
  owner confirms it (``uphold``: it becomes ``active``) or lets it go (``release``).
- The uploader's side (the scanner account that checked the upload) may ``dispute`` an
  active claim, with a reason; the owner then releases it or ``uphold``s it, with the
  evidence in front of them. An upheld claim may be ``appeal``ed once; the owner releases
  it or asks for a ``takedown`` (the formal notice, ``report.takedown``).
- A disputed or appealed claim the owner leaves unanswered for the response window
  (30 days by default, as Content ID's) is released by itself: silence never keeps a
  claim alive against an uploader who contested it.
- ``released`` and ``takedown`` are final.

The admin may take any action on either side's behalf. Every change is one ``Change`` in
the claim's history: who, when, from which state to which, and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..roundtrip import Record

STATES = ("active", "in_review", "disputed", "released", "upheld", "appealed", "takedown")
FINAL = ("released", "takedown")
OPEN = tuple(s for s in STATES if s not in FINAL)
"""States in which a claim still applies to its upload (``in_review`` does not yet: its
action waits for the owner)."""
APPLIES = ("active", "disputed", "upheld", "appealed")
"""States whose claim's action counts in the upload's decision: a dispute does not lift a
claim until the owner answers (Content ID keeps it in place meanwhile)."""
AWAITING_OWNER = ("disputed", "appealed")
"""States that the response window runs in: released by themselves when it ends."""

OWNER, UPLOADER = "owner", "uploader"

TRANSITIONS: dict[tuple[str, str], tuple[str, str]] = {
    # (state, action): (next state, who takes it)
    ("in_review", "uphold"): ("active", OWNER),
    ("in_review", "release"): ("released", OWNER),
    ("active", "dispute"): ("disputed", UPLOADER),
    ("active", "release"): ("released", OWNER),
    ("active", "takedown"): ("takedown", OWNER),
    ("disputed", "uphold"): ("upheld", OWNER),
    ("disputed", "release"): ("released", OWNER),
    ("upheld", "appeal"): ("appealed", UPLOADER),
    ("upheld", "release"): ("released", OWNER),
    ("upheld", "takedown"): ("takedown", OWNER),
    ("appealed", "release"): ("released", OWNER),
    ("appealed", "takedown"): ("takedown", OWNER),
}
ACTIONS = tuple(sorted({action for _, action in TRANSITIONS}))
NEEDS_REASON = ("dispute", "appeal")
"""Actions that must say why (the other side reads it before answering)."""
EXPIRED = "expire"
"""The action of the clock: a claim left ``AWAITING_OWNER`` past its deadline is released."""


class TransitionRefused(Exception):
    """An action the claim's state or the actor's side does not allow: ``status`` 409 for the
    state, 403 for the side."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def next_state(state: str, action: str, side: str) -> str:
    """The state ``action`` moves a claim in ``state`` to, taken by ``side`` (``OWNER``,
    ``UPLOADER``, or ``"admin"`` for either); TransitionRefused otherwise."""
    if action not in ACTIONS:
        raise TransitionRefused(f"unknown action {action!r}; choose from {', '.join(ACTIONS)}", 400)
    step = TRANSITIONS.get((state, action))
    if step is None:
        allowed = [a for (s, a) in TRANSITIONS if s == state]
        told = f"; it allows {', '.join(allowed)}" if allowed else " (a final state)"
        raise TransitionRefused(f"a claim that is {state} cannot be {_past(action)}{told}", 409)
    to, who = step
    if side != "admin" and side != who:
        whose = "the work's owner" if who == OWNER else "the uploader's account"
        raise TransitionRefused(f"only {whose} may {action} a claim", 403)
    return to


def allowed_actions(state: str, side: str) -> list[str]:
    """What ``side`` may do to a claim in ``state`` (the console's buttons)."""
    return [a for (s, a), (_, who) in TRANSITIONS.items() if s == state and (side == "admin" or side == who)]


def _past(action: str) -> str:
    return {"dispute": "disputed", "uphold": "upheld", "release": "released", "appeal": "appealed",
            "takedown": "taken down"}.get(action, action)  # fmt: skip


@dataclass(frozen=True)
class Change(Record):
    """One step of a claim's history."""

    at: str  # ISO time, UTC
    actor: str  # the account's name, or "reeltrace" for the clock and the check itself
    action: str  # "create", an action of TRANSITIONS, or EXPIRED
    from_state: str  # "" for the creation
    to_state: str
    reason: str = ""
