"""Body (A) and head (B) classes: the trunk, the shoulders and the head move; hands stay put."""

from __future__ import annotations

import numpy as np

from perception.synthetic.figure import PoseTrack
from perception.synthetic.motions.base import (
    BOUND_POSTURE,
    BOUND_SUBTLE,
    ELBOW_LANDMARKS,
    HEAD_LANDMARKS,
    HIP_LANDMARKS,
    SHOULDER_LANDMARKS,
    Motion,
    later,
    register,
)

UPPER_BODY = HEAD_LANDMARKS + SHOULDER_LANDMARKS + ELBOW_LANDMARKS

# --------------------------------------------------------------------------- A: body


@register(0, ("torso",), BOUND_SUBTLE, lambda s: UPPER_BODY)
def _shaking_body(track: PoseTrack, f: slice, m: Motion) -> None:
    """Side-to-side rocking of the upper body at ~2.5 Hz (roll plus a small sway)."""
    wave = m.osc(2.5) * m.env(0.3) * m.amp
    track.torso_rot[f, 1] += 0.04 * wave
    track.torso_shift[f, 0] += 0.01 * wave


@register(1, ("torso",), BOUND_SUBTLE, lambda s: UPPER_BODY)
def _sitting_straightly(track: PoseTrack, f: slice, m: Motion) -> None:
    """Straighten up from the rest slouch and hold (a backward pitch, not an oscillation)."""
    track.torso_rot[f, 0] -= 0.1 * m.env(0.5) * m.amp
    track.head_rot[f, 0] -= 0.04 * m.env(0.5) * m.amp


@register(2, ("shoulders",), BOUND_SUBTLE, lambda s: SHOULDER_LANDMARKS + ELBOW_LANDMARKS)
def _shrugging(track: PoseTrack, f: slice, m: Motion) -> None:
    """Both shoulders up and down, one shrug per ~1.2 s of instance."""
    shrugs = max(1, round(m.duration / 1.2))
    lift = np.sin(np.pi * shrugs * m.tau / m.duration) ** 2 * m.env(0.15) * m.amp
    track.shoulder_lift[f] += 0.032 * lift[:, None]


@register(3, ("torso", "head"), BOUND_POSTURE, lambda s: UPPER_BODY)
def _turning_around(track: PoseTrack, f: slice, m: Motion) -> None:
    """Turn the whole upper body to one side and look over that shoulder, hold, turn back.

    Unlike turning head (8) the shoulders and elbows turn too (torso yaw), and the head turns
    further than the trunk, as when looking behind oneself.
    """
    e = m.env(0.5) * m.amp
    track.torso_rot[f, 2] += m.sign * 0.32 * e
    track.head_rot[f, 1] += m.sign * 0.3 * e


@register(4, ("torso", "leg_l", "leg_r"), BOUND_POSTURE, lambda s: UPPER_BODY + HIP_LANDMARKS + (25, 26))
def _rising_up(track: PoseTrack, f: slice, m: Motion) -> None:
    """Lean forward, lift the seat a little off the chair, hold half-risen, sit back down.

    The only class that moves the hips: the pelvis rises and comes forward, the knees follow
    by leg IK (the feet stay on the floor) and the resting hands ride on the thighs.
    """
    lean = m.env(0.45)
    lift = later(lean, 0.35)  # the seat leaves the chair once the lean is under way
    track.torso_rot[f, 0] += 0.2 * lean * m.amp
    track.pelvis_shift[f] += (lift * m.amp)[:, None] * np.array([0.0, 0.07, 0.06])


# --------------------------------------------------------------------------- B: head


@register(5, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _bowing_head(track: PoseTrack, f: slice, m: Motion) -> None:
    """Lower the head and hold."""
    track.head_rot[f, 0] += 0.3 * m.env(0.5) * m.amp


@register(6, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _head_up(track: PoseTrack, f: slice, m: Motion) -> None:
    """Raise the chin and hold."""
    track.head_rot[f, 0] -= 0.25 * m.env(0.5) * m.amp


@register(7, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _tilting_head(track: PoseTrack, f: slice, m: Motion) -> None:
    """Roll the head towards one shoulder and hold."""
    track.head_rot[f, 2] += m.sign * 0.26 * m.env(0.4) * m.amp


@register(8, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _turning_head(track: PoseTrack, f: slice, m: Motion) -> None:
    """Turn the head to one side and hold (a single slow yaw, unlike shaking)."""
    track.head_rot[f, 1] += m.sign * 0.4 * m.env(0.35) * m.amp


@register(9, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _nodding(track: PoseTrack, f: slice, m: Motion) -> None:
    """Pitch down-and-up at ~1.8 Hz (one-sided: the head returns to rest between nods)."""
    track.head_rot[f, 0] += 0.22 * m.bump(1.8) * m.env(0.2) * m.amp


@register(10, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _shaking_head(track: PoseTrack, f: slice, m: Motion) -> None:
    """Yaw left-right at ~2.3 Hz, symmetric about the rest orientation."""
    track.head_rot[f, 1] += 0.28 * m.osc(2.3) * m.env(0.2) * m.amp
