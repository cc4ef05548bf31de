"""Rights management's stages on hand-made inputs: a policy's conditions against reuses
measured from hand-made matches, the upload's decision, and every transition of a claim's
state machine, allowed and refused, by each side. (The whole flow, on real scans of
generated media through a real server, is ``test_rights_service``.)"""

from __future__ import annotations

import pytest

from reeltrace.records import Segment, Work, WorkMatch
from reeltrace.rights.claims import ACTIONS, OWNER, STATES, TRANSITIONS, UPLOADER, Change, TransitionRefused, allowed_actions, next_state
from reeltrace.rights.policy import DEFAULT_POLICY, Policy, PolicyError, Reuse, strictest


def _match(duration: float, *segments: tuple[float, float, float, float, str], score: float = 0.9) -> WorkMatch:
    work = Work("w1", "Title", "Owner", "film", duration, "h", "/x", "2026-01-01T00:00:00+00:00", True, True)
    segs = [Segment(qs, qe, ws, we, score, modality=m) for qs, qe, ws, we, m in segments]
    return WorkMatch(work, segs[0].modality if segs else "video", score, segs)


def test_a_reuse_counts_each_second_once_on_each_axis():
    # Two segments that overlap in the upload (10-20 and 15-25) and show the same 5 s of the work twice.
    reuse = Reuse.of(_match(100.0, (10, 20, 0, 10, "video"), (15, 25, 5, 15, "audio+video")), query_duration=60.0)
    assert reuse.seconds == pytest.approx(15.0)
    assert reuse.query_share == pytest.approx(15.0 / 60.0)
    assert reuse.work_seconds == pytest.approx(15.0)
    assert reuse.work_share == pytest.approx(0.15)
    assert reuse.modalities == ("audio+video", "video")
    assert Reuse.from_dict(reuse.to_dict()) == Reuse.of(_match(100.0, (10, 20, 0, 10, "video"), (15, 25, 5, 15, "audio+video")), 60.0)


@pytest.mark.parametrize("condition, meets, misses", [
    ({"min_seconds": 10}, (0, 10, 0, 10, "video"), (0, 9.9, 0, 9.9, "video")),
    ({"min_query_share": 0.5}, (0, 30, 0, 30, "video"), (0, 29, 0, 29, "video")),
    ({"min_work_share": 0.2}, (0, 20, 0, 20, "video"), (0, 19, 0, 19, "video")),
    ({"modality": "video"}, (0, 5, 0, 5, "audio+video"), (0, 5, 0, 5, "audio")),
    ({"modality": "audio"}, (0, 5, 0, 5, "audio"), (0, 5, 0, 5, "video")),
    ({"modality": "audio+video"}, (0, 5, 0, 5, "audio+video"), (0, 5, 0, 5, "video")),
])  # fmt: skip
def test_each_condition_of_a_policy_is_met_and_missed_at_its_edge(condition, meets, misses):
    policy = Policy("block", **condition)
    assert policy.met_by(Reuse.of(_match(100.0, meets), 60.0))
    assert not policy.met_by(Reuse.of(_match(100.0, misses), 60.0))
    assert DEFAULT_POLICY.met_by(Reuse.of(_match(100.0, misses), 60.0))  # the default tracks every match


def test_review_below_sends_weaker_matches_to_review():
    policy = Policy("monetize", review_below=0.8)
    assert policy.needs_review(Reuse.of(_match(100.0, (0, 5, 0, 5, "video"), score=0.79), 60.0))
    assert not policy.needs_review(Reuse.of(_match(100.0, (0, 5, 0, 5, "video"), score=0.8), 60.0))
    assert not Policy("monetize").needs_review(Reuse.of(_match(100.0, (0, 5, 0, 5, "video"), score=0.1), 60.0))


@pytest.mark.parametrize("bad", [{"action": "delete"}, {"modality": "smell"}, {"min_seconds": -1}, {"min_query_share": 1.5},
                                 {"min_work_share": -0.1}, {"review_below": 2.0}])  # fmt: skip
def test_a_policy_that_cannot_be_applied_is_refused(bad):
    with pytest.raises(PolicyError):
        Policy(**{"action": "track", **bad})


def test_the_strictest_action_decides():
    assert strictest([]) == "allow"
    assert strictest(["track"]) == "track"
    assert strictest(["track", "block", "monetize"]) == "block"
    assert strictest(["monetize", "track"]) == "monetize"


def test_every_transition_is_allowed_to_its_side_and_the_admin_only():
    for (state, action), (to, who) in TRANSITIONS.items():
        other = UPLOADER if who == OWNER else OWNER
        assert next_state(state, action, who) == to
        assert next_state(state, action, "admin") == to
        with pytest.raises(TransitionRefused) as refused:
            next_state(state, action, other)
        assert refused.value.status == 403


def test_every_action_a_state_does_not_allow_is_refused_as_a_conflict():
    for state in STATES:
        for action in ACTIONS:
            if (state, action) in TRANSITIONS:
                continue
            with pytest.raises(TransitionRefused) as refused:
                next_state(state, action, "admin")
            assert refused.value.status == 409 and state in str(refused.value)
    with pytest.raises(TransitionRefused) as refused:
        next_state("active", "delete", "admin")
    assert refused.value.status == 400


def test_final_states_allow_nothing_and_every_other_state_can_be_left():
    for state in STATES:
        actions = allowed_actions(state, "admin")
        assert (actions == []) == (state in ("released", "takedown")), state
    assert allowed_actions("active", UPLOADER) == ["dispute"]
    assert set(allowed_actions("disputed", OWNER)) == {"uphold", "release"}
    assert allowed_actions("disputed", UPLOADER) == []


def test_a_whole_dispute_walks_the_machine():
    state = "active"
    for action, side in (("dispute", UPLOADER), ("uphold", OWNER), ("appeal", UPLOADER), ("takedown", OWNER)):
        state = next_state(state, action, side)
    assert state == "takedown"
    change = Change("2026-12-06T10:00:00+00:00", "studio", "takedown", "appealed", "takedown", "")
    assert Change.from_dict(change.to_dict()) == change
