"""Body-hand (E) and head-hand (F) classes: a hand travels to a body anchor and acts there.

The anchor says most about the class (neck, chest, back, the other shoulder, the waist;
forehead, eye, nose, cheek, mouth, ear, hair, back of the head) and the rhythm says the
rest: rubbing, scratching, tapping, a single push or a still hold. Reaches put the
fingertips on the anchor whatever the amplitude (a hand that stops short of the nose is not
"touching nose"); ``amplitude`` scales only what the hand does there.
"""

from __future__ import annotations

import numpy as np

from perception.synthetic.figure import SIDE_SIGN, PoseTrack
from perception.synthetic.motions.base import (
    BOUND_GESTURE,
    BOUND_REACH,
    BOUND_TO_HEAD,
    BOUND_UPPER_HEAD,
    HEAD_LANDMARKS,
    Motion,
    arm_landmarks,
    both_arms,
    reach,
    register,
    side_tag,
)

# --------------------------------------------------------------------------- E: body-hand


@register(32, ("arm",), BOUND_TO_HEAD, arm_landmarks)
def _touching_neck(track: PoseTrack, f: slice, m: Motion) -> None:
    """Hand to the side of the neck, rubbing up and down at ~3 Hz."""
    e = m.env(0.5)
    offset = m.constant([0.0, 0.0, 0.02])
    offset[:, 1] += 0.012 * m.amp * m.osc(3.0)
    reach(track, f, m.side, f"neck_{side_tag(m.side)}", e, offset, pole=(0.9, -0.3, 0.1))


@register(33, ("arm",), BOUND_GESTURE, arm_landmarks)
def _touching_chest(track: PoseTrack, f: slice, m: Motion) -> None:
    """Hand flat on the chest, scratching sideways at ~3.5 Hz."""
    sx = SIDE_SIGN[m.side]
    e = m.env(0.5)
    offset = m.constant([sx * 0.03, 0.0, 0.02])
    offset[:, 0] += 0.012 * m.amp * m.osc(3.5)
    reach(track, f, m.side, "chest", e, offset, pole=(0.5, -0.8, 0.2))


@register(34, ("arm",), BOUND_REACH, arm_landmarks)
def _touching_back(track: PoseTrack, f: slice, m: Motion) -> None:
    """Hand behind the lower back (elbow out and back), scratching up and down at ~3 Hz."""
    e = m.env(0.5)
    offset = m.constant([0.0, 0.0, 0.0])
    offset[:, 1] += 0.02 * m.amp * m.osc(3.0)
    reach(track, f, m.side, f"back_{side_tag(m.side)}", e, offset, pole=(1.0, -0.2, 0.0))
    track.hand_curl[f, m.side] += 0.4 * e


@register(35, ("arm",), BOUND_REACH, arm_landmarks)
def _touching_shoulder(track: PoseTrack, f: slice, m: Motion) -> None:
    """Hand across the chest onto the top of the other shoulder, kneading it in small circles
    (~1.5 Hz)."""
    e = m.env(0.5)
    circle = m.circle(1.5, 0.012 * m.amp)
    offset = m.constant([0.0, 0.0, 0.0])
    offset[:, 0] += circle[:, 0]
    offset[:, 2] += circle[:, 1]
    reach(track, f, m.side, f"shoulder_top_{side_tag(1 - m.side)}", e, offset, pole=(0.5, -0.8, 0.4))
    track.hand_curl[f, m.side] += 0.3 * e


@register(36, ("arm_l", "arm_r"), BOUND_GESTURE, both_arms)
def _arms_akimbo(track: PoseTrack, f: slice, m: Motion) -> None:
    """Both hands on the waist, elbows pointing out sideways; held."""
    e = m.env(0.5)
    for side, sx in enumerate(SIDE_SIGN):
        reach(
            track,
            f,
            side,
            f"waist_{side_tag(side)}",
            e,
            m.constant([sx * 0.02, 0.0, 0.0]),
            pole=(1.0, 0.0, -0.3),
        )
        track.hand_bend[f, side] += 0.4 * e * m.amp
        track.hand_curl[f, side] += 0.3 * e


@register(37, ("arm_l", "arm_r"), BOUND_GESTURE, both_arms)
def _crossing_arms(track: PoseTrack, f: slice, m: Motion) -> None:
    """Fold the arms: each hand to the front of the opposite upper arm, elbows forward; hold."""
    e = m.env(0.6)
    reach(track, f, 0, "upper_arm_r", e, m.constant([0.0, 0.0, 0.03]), pole=(0.5, -0.7, 0.6))
    reach(track, f, 1, "upper_arm_l", e, m.constant([0.0, -0.04, 0.06]), pole=(0.5, -0.7, 0.6))
    track.hand_curl[f] += 0.7 * e[:, None]


# --------------------------------------------------------------------------- F: head-hand


@register(38, ("arm",), BOUND_UPPER_HEAD, arm_landmarks)
def _playing_hair(track: PoseTrack, f: slice, m: Motion) -> None:
    """Hand on the side of the hair, elbow raised, stroking slowly front to back (~0.9 Hz)."""
    e = m.env(0.5)
    offset = m.constant([0.0, 0.0, 0.0])
    offset[:, 2] += 0.03 * m.amp * m.osc(0.9)
    reach(track, f, m.side, f"hair_{side_tag(m.side)}", e, offset, pole=(0.9, -0.1, 0.2))
    track.hand_curl[f, m.side] += 0.3 * e


@register(39, ("arm",), BOUND_UPPER_HEAD, arm_landmarks)
def _touching_hindbrain(track: PoseTrack, f: slice, m: Motion) -> None:
    """Hand behind the head, elbow up and out, scratching up and down at ~4 Hz."""
    sx = SIDE_SIGN[m.side]
    e = m.env(0.5)
    offset = m.constant([sx * 0.03, 0.0, 0.0])
    offset[:, 1] += 0.012 * m.amp * m.osc(4.0)
    reach(track, f, m.side, "hindbrain", e, offset, pole=(0.9, 0.3, 0.2))
    track.hand_curl[f, m.side] += 0.5 * e


@register(40, ("arm",), BOUND_UPPER_HEAD, arm_landmarks)
def _touching_forehead(track: PoseTrack, f: slice, m: Motion) -> None:
    """Fingertips to the middle of the forehead, rubbing sideways at ~2 Hz."""
    e = m.env(0.45)
    offset = m.constant([0.0, 0.0, 0.0])
    offset[:, 0] += 0.015 * m.amp * m.osc(2.0)
    reach(track, f, m.side, "forehead", e, offset, pole=(0.8, -0.6, 0.0))
    track.hand_curl[f, m.side] += 0.2 * e


@register(41, ("arm",), BOUND_TO_HEAD, arm_landmarks)
def _touching_face(track: PoseTrack, f: slice, m: Motion) -> None:
    """Fingers to the cheek, scratching with short fast strokes (~4 Hz)."""
    e = m.env(0.5)
    offset = m.constant([0.0, 0.0, 0.015])
    offset[:, 1] += 0.01 * m.amp * m.osc(4.0)
    reach(track, f, m.side, f"cheek_{side_tag(m.side)}", e, offset, pole=(0.8, -0.6, 0.0))
    track.hand_curl[f, m.side] += 0.3 * e


@register(42, ("arm",), BOUND_UPPER_HEAD, arm_landmarks)
def _rubbing_eyes(track: PoseTrack, f: slice, m: Motion) -> None:
    """Curled fingers on the eye of the same side, rubbing in small circles (~3 Hz)."""
    e = m.env(0.45)
    circle = m.circle(3.0, 0.008 * m.amp)
    offset = m.constant([0.0, 0.0, 0.0])
    offset[:, :2] += circle
    reach(track, f, m.side, f"eye_{side_tag(m.side)}", e, offset, pole=(0.8, -0.6, 0.0))
    track.hand_curl[f, m.side] += 0.6 * e


@register(43, ("arm",), BOUND_TO_HEAD, arm_landmarks)
def _touching_nose(track: PoseTrack, f: slice, m: Motion) -> None:
    """Index finger to the nose tip with a slow small rub (~1.5 Hz)."""
    e = m.env(0.45)
    offset = m.constant([0.0, -0.005, 0.015])
    offset[:, 0] += 0.006 * m.amp * m.osc(1.5)
    reach(track, f, m.side, "nose", e, offset, pole=(0.8, -0.6, 0.0))
    track.hand_curl[f, m.side] += 0.5 * e


@register(44, ("arm",), BOUND_UPPER_HEAD, arm_landmarks)
def _touching_ears(track: PoseTrack, f: slice, m: Motion) -> None:
    """Fingers on the ear of the same side, tugging the lobe down about twice a second."""
    sx = SIDE_SIGN[m.side]
    e = m.env(0.45)
    offset = m.constant([sx * 0.01, 0.0, 0.0])
    offset[:, 1] -= 0.012 * m.amp * m.bump(2.0)
    reach(track, f, m.side, f"ear_{side_tag(m.side)}", e, offset, pole=(1.0, -0.3, 0.0))
    track.hand_curl[f, m.side] += 0.4 * e


@register(45, ("arm_l", "arm_r", "head"), BOUND_TO_HEAD, lambda s: both_arms(s) + HEAD_LANDMARKS)
def _covering_face(track: PoseTrack, f: slice, m: Motion) -> None:
    """Both palms over the face, head bowed a little into them; held."""
    e = m.env(0.5)
    track.head_rot[f, 0] += 0.12 * e * m.amp
    for side in range(2):
        reach(
            track, f, side, f"eye_{side_tag(side)}", e, m.constant([0.0, 0.015, 0.02]), pole=(0.6, -0.8, 0.1)
        )
        track.hand_curl[f, side] -= 0.2 * e


@register(46, ("arm",), BOUND_TO_HEAD, arm_landmarks)
def _covering_mouth(track: PoseTrack, f: slice, m: Motion) -> None:
    """One flat hand over the mouth, fingertips reaching the other cheek; held still."""
    sx = SIDE_SIGN[m.side]
    e = m.env(0.45)
    reach(track, f, m.side, "mouth", e, m.constant([-sx * 0.03, 0.0, 0.02]), pole=(0.8, -0.6, 0.0))
    track.hand_curl[f, m.side] -= 0.2 * e


@register(47, ("arm",), BOUND_UPPER_HEAD, arm_landmarks)
def _pushing_glasses(track: PoseTrack, f: slice, m: Motion) -> None:
    """Index finger to the bridge of the nose and one push upwards in the middle of the
    instance (a single stroke, where touching nose rubs the tip)."""
    e = m.env(0.4)
    push = 0.5 - 0.5 * np.cos(2 * np.pi * m.tau / m.duration)
    offset = m.constant([0.0, 0.0, 0.01])
    offset[:, 1] += 0.018 * m.amp * push
    reach(track, f, m.side, "bridge", e, offset, pole=(0.8, -0.6, 0.0))
    track.hand_curl[f, m.side] += 0.75 * e
