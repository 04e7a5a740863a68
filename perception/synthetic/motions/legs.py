"""Lower-limb (D) and leg-hand (G) classes: feet, knees, and hands on the legs and feet."""

from __future__ import annotations

import numpy as np

from perception.synthetic.figure import SIDE_SIGN, PoseTrack
from perception.synthetic.motions.base import (
    BOUND_LAP,
    BOUND_POSTURE,
    BOUND_REACH,
    BOUND_SUBTLE,
    HEAD_LANDMARKS,
    SHOULDER_LANDMARKS,
    Motion,
    arm_landmarks,
    both_arms,
    both_legs,
    later,
    leg_landmarks,
    reach,
    register,
    side_tag,
)

# --------------------------------------------------------------------------- D: lower limb


@register(24, ("leg",), BOUND_SUBTLE, leg_landmarks)
def _shaking_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """Bounce one heel at ~4.5 Hz (toes on the floor), so the knee jitters up and down."""
    track.foot_pitch[f, m.side] += 0.16 * m.bump(4.5) * m.env(0.2) * m.amp


@register(25, ("leg",), BOUND_POSTURE, leg_landmarks)
def _curling_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """Lift one foot off the floor and tuck it back under the chair, toes pointed; hold.

    Unlike retracting feet (30, both feet sliding back on the floor) one foot leaves the floor.
    """
    e = m.env(0.45) * m.amp
    track.ankle_offset[f, m.side] += e[:, None] * np.array([0.0, 0.09, -0.17])
    track.foot_pitch[f, m.side] += 0.45 * e


@register(26, ("leg_l", "leg_r"), BOUND_SUBTLE, both_legs)
def _spread_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """Let both knees fall open and the feet slide apart; hold."""
    e = m.env(0.5) * m.amp
    for side, sx in enumerate(SIDE_SIGN):
        track.ankle_offset[f, side, 0] += sx * 0.03 * e
        track.knee_pole[f, side, 0] += 0.2 * e


@register(27, ("leg_l", "leg_r"), BOUND_SUBTLE, both_legs)
def _closing_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """Bring both knees and feet together towards the midline; hold (spread legs reversed)."""
    e = m.env(0.5) * m.amp
    for side, sx in enumerate(SIDE_SIGN):
        track.ankle_offset[f, side, 0] -= sx * 0.03 * e
        track.knee_pole[f, side, 0] -= 0.17 * e


@register(28, ("leg", "other_leg"), BOUND_POSTURE, leg_landmarks)
def _crossing_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """Cross one leg over the other: the knee rises across, the foot dangles in front of the
    other shin and bobs slowly (~1 Hz). The crossing itself is a posture, so like a reach it
    does not scale with ``amplitude``; the bobbing does."""
    e = m.env(0.6)
    cross = np.array([-SIDE_SIGN[m.side] * 0.17, 0.16, 0.06])
    track.ankle_offset[f, m.side] += e[:, None] * cross
    track.ankle_offset[f, m.side, 1] += 0.02 * m.amp * m.bump(1.0) * e
    track.knee_pole[f, m.side] += e[:, None] * np.array([-0.5, 0.9, 0.0])
    track.foot_pitch[f, m.side] += 0.5 * e


@register(29, ("leg_l", "leg_r"), BOUND_SUBTLE, both_legs)
def _stretching_feet(track: PoseTrack, f: slice, m: Motion) -> None:
    """Slide both feet forward with the toes pointing up, hold, slide back."""
    e = m.env(0.5) * m.amp
    for side, sx in enumerate(SIDE_SIGN):
        track.ankle_offset[f, side] += e[:, None] * np.array([sx * 0.012, 0.0, 0.08])
        track.foot_pitch[f, side] -= 0.3 * e


@register(30, ("leg_l", "leg_r"), BOUND_SUBTLE, both_legs)
def _retracting_feet(track: PoseTrack, f: slice, m: Motion) -> None:
    """Pull both feet back under the chair onto the toes, hold, return."""
    e = m.env(0.45) * m.amp
    for side in range(2):
        track.ankle_offset[f, side] += e[:, None] * np.array([0.0, 0.0, -0.06])
        track.foot_pitch[f, side] += 0.28 * e


@register(31, ("leg_l", "leg_r"), BOUND_SUBTLE, both_legs)
def _tiptoe(track: PoseTrack, f: slice, m: Motion) -> None:
    """Rise onto the toes of both feet in place and hold."""
    track.foot_pitch[f] += 0.35 * (m.env(0.3) * m.amp)[:, None]


# --------------------------------------------------------------------------- G: leg-hand


@register(48, ("arm_l", "arm_r"), BOUND_LAP, both_arms)
def _patting_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """Both hands tap the thighs in unison at ~2.5 pats per second."""
    lift = np.abs(np.sin(np.pi * 2.5 * m.freq * m.tau)) * m.env(0.15) * m.amp
    track.wrist_offset[f, :, 1] += 0.035 * lift[:, None]
    track.hand_bend[f] -= 0.25 * lift[:, None]


@register(49, ("arm",), BOUND_LAP, arm_landmarks)
def _touching_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """One hand slides slowly along the thigh towards the knee and back (~0.8 Hz)."""
    slide = m.bump(0.8) * m.env(0.3) * m.amp
    track.wrist_offset[f, m.side, 2] += 0.07 * slide
    track.wrist_offset[f, m.side, 1] -= 0.01 * slide


@register(50, ("arm",), BOUND_LAP, arm_landmarks)
def _scratching_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """Fingers scratch the thigh with fast short strokes (~5 Hz) across it, hand curled."""
    e = m.env(0.2)
    stroke = m.osc(5.0) * e * m.amp
    track.wrist_offset[f, m.side, 0] += SIDE_SIGN[m.side] * 0.022 * stroke
    track.wrist_offset[f, m.side, 2] += 0.015 * stroke
    track.hand_curl[f, m.side] += 0.5 * e
    track.hand_bend[f, m.side] += 0.3 * e


def _feet_landmarks(side: int) -> tuple[int, ...]:
    return HEAD_LANDMARKS + SHOULDER_LANDMARKS + arm_landmarks(side) + leg_landmarks(side)


@register(51, ("torso", "arm", "leg"), BOUND_REACH, _feet_landmarks)
def _scratching_feet(track: PoseTrack, f: slice, m: Motion) -> None:
    """Lean forward, lift one foot a little and scratch its ankle with the same-side hand
    (~4.5 Hz strokes). The lean is what lets the hand get there, so it does not scale with
    ``amplitude`` (like a reach); the scratching does."""
    sx = SIDE_SIGN[m.side]
    e = m.env(0.6)
    track.torso_rot[f, 0] += 0.55 * e
    track.ankle_offset[f, m.side] += e[:, None] * np.array([-sx * 0.03, 0.14, -0.05])
    track.foot_pitch[f, m.side] += 0.3 * e
    offset = m.constant([0.0, 0.0, 0.0])
    offset[:, 0] += 0.015 * m.amp * m.osc(4.5)
    reach(track, f, m.side, f"ankle_{side_tag(m.side)}", later(e, 0.3), offset, pole=(0.7, -0.5, 0.3))
    track.hand_curl[f, m.side] += 0.5 * e
