"""Upper-limb (C) classes: hands and arms move in front of the body, touching only each other.

Where the hands go tells the two-handed classes apart as much as the rhythm does: lap
(hands touching fingers), higher over the thighs with an object (playing objects), at the
belly (rubbing hands), in front of the chest (putting hands together).
"""

from __future__ import annotations

import numpy as np

from perception.synthetic.figure import SIDE_SIGN, PoseTrack
from perception.synthetic.motions.base import (
    BOUND_GESTURE,
    BOUND_LAP,
    Motion,
    arm_landmarks,
    both_arms,
    finger_landmarks,
    reach,
    register,
    side_tag,
)


@register(11, ("arm", "other_arm"), BOUND_GESTURE, arm_landmarks)
def _scratching_arms(track: PoseTrack, f: slice, m: Motion) -> None:
    """One hand crosses over to the other forearm (resting on the thigh) and scratches along it
    with fast short strokes (~4.5 Hz), fingers curled."""
    e = m.env(0.4)
    offset = m.constant([0.0, 0.015, 0.0])
    offset[:, 2] += 0.03 * m.amp * m.osc(4.5)
    reach(track, f, m.side, f"forearm_{side_tag(1 - m.side)}", e, offset, pole=(0.6, -0.8, 0.1))
    track.hand_curl[f, m.side] += 0.55 * e


@register(12, ("arm_l", "arm_r"), BOUND_GESTURE, both_arms)
def _playing_objects(track: PoseTrack, f: slice, m: Motion) -> None:
    """Hold a small object up over the thighs in both hands and slowly turn it over (~0.7 Hz):
    the hands rock in antiphase. The object is drawn while it is held."""
    e = m.env(0.4)
    for side, sx in enumerate(SIDE_SIGN):
        turn = m.osc(0.7, phase=0.0 if side == 0 else np.pi) * m.amp
        offset = m.constant([sx * 0.035, 0.0, 0.0])
        offset[:, 1] += 0.015 * turn
        reach(track, f, side, "lap_high", e, offset, pole=(0.7, -0.7, -0.1))
        track.hand_bend[f, side] += 0.3 * turn * e
        track.hand_curl[f, side] += 0.45 * e
    track.held_object[f] += e


@register(13, ("arm_l", "arm_r"), BOUND_GESTURE, both_arms)
def _putting_hands_together(track: PoseTrack, f: slice, m: Motion) -> None:
    """Palms pressed together in front of the chest, fingers extended; held still."""
    e = m.env(0.5)
    for side, sx in enumerate(SIDE_SIGN):
        reach(track, f, side, "chest_front", e, m.constant([sx * 0.012, 0.0, 0.0]), pole=(0.7, -0.7, -0.2))
        track.hand_bend[f, side] -= 0.3 * e * m.amp
        track.hand_curl[f, side] -= 0.3 * e


@register(14, ("arm_l", "arm_r"), BOUND_GESTURE, both_arms)
def _rubbing_hands(track: PoseTrack, f: slice, m: Motion) -> None:
    """Hands together at the belly, rubbing palm on palm: antiphase forward-back strokes at ~3 Hz."""
    e = m.env(0.35)
    for side, sx in enumerate(SIDE_SIGN):
        offset = m.constant([sx * 0.015, 0.0, 0.0])
        offset[:, 2] += 0.03 * m.amp * m.osc(3.0, phase=0.0 if side == 0 else np.pi)
        reach(track, f, side, "belly", e, offset, pole=(0.7, -0.7, -0.1))
        track.hand_curl[f, side] += 0.2 * e


@register(15, ("arm",), BOUND_GESTURE, arm_landmarks)
def _pointing_oneself(track: PoseTrack, f: slice, m: Motion) -> None:
    """Index finger to the breastbone, tapping it about twice a second."""
    e = m.env(0.4)
    offset = m.constant([0.0, 0.0, 0.0])
    offset[:, 2] += 0.035 * m.amp * m.bump(2.0)
    reach(track, f, m.side, "sternum", e, offset, pole=(0.6, -0.8, 0.1))
    track.hand_curl[f, m.side] += 0.7 * e


@register(16, ("arm_l", "arm_r"), BOUND_LAP, both_arms)
def _clenching_fist(track: PoseTrack, f: slice, m: Motion) -> None:
    """Close both hands into fists on the thighs and hold, wrists flexing slightly."""
    e = m.env(0.3)
    track.hand_curl[f] += 0.9 * e[:, None]
    track.hand_bend[f] += 0.25 * e[:, None] * m.amp


@register(17, ("arm_l", "arm_r"), BOUND_GESTURE, both_arms)
def _stretching_arms(track: PoseTrack, f: slice, m: Motion) -> None:
    """Push both arms straight forward-down off the lap, fingers extended, then relax."""
    e = m.env(0.5) * m.amp
    for side, sx in enumerate(SIDE_SIGN):
        track.wrist_offset[f, side] += e[:, None] * np.array([sx * 0.04, 0.06, 0.2])
        track.hand_bend[f, side] -= 0.5 * e
        track.hand_curl[f, side] -= 0.3 * e


@register(18, ("arm_l", "arm_r"), BOUND_LAP, both_arms)
def _retracting_arms(track: PoseTrack, f: slice, m: Motion) -> None:
    """Pull both hands back along the thighs towards the hips (elbows go back), hold, return:
    the opposite direction of stretching arms."""
    e = m.env(0.45) * m.amp
    for side, sx in enumerate(SIDE_SIGN):
        track.wrist_offset[f, side] += e[:, None] * np.array([-sx * 0.02, 0.035, -0.13])
        track.hand_curl[f, side] += 0.25 * e


@register(19, ("arm",), BOUND_GESTURE, arm_landmarks)
def _waving(track: PoseTrack, f: slice, m: Motion) -> None:
    """Raise one hand in front of the shoulder and wave it sideways at ~2.7 Hz."""
    sx = SIDE_SIGN[m.side]
    e = m.env(0.4)
    offset = m.constant([sx * 0.07, -0.02, 0.2])
    offset[:, 0] += 0.04 * m.amp * m.osc(2.7) * e
    reach(track, f, m.side, f"shoulder_{side_tag(m.side)}", e, offset, pole=(0.3, -1.0, 0.0))
    track.hand_bend[f, m.side] -= 0.3 * e


@register(20, ("arm_l", "arm_r"), BOUND_GESTURE, both_arms)
def _spreading_hands(track: PoseTrack, f: slice, m: Motion) -> None:
    """Lift both hands off the thighs and open them outwards, palms up, fingers spread; hold."""
    e = m.env(0.3) * m.amp
    for side, sx in enumerate(SIDE_SIGN):
        track.wrist_offset[f, side] += e[:, None] * np.array([sx * 0.12, 0.09, 0.07])
        track.hand_bend[f, side] -= 0.5 * e
        track.hand_curl[f, side] -= 0.4 * e


@register(21, ("arm_l", "arm_r"), BOUND_GESTURE, both_arms)
def _hands_touching_fingers(track: PoseTrack, f: slice, m: Motion) -> None:
    """Bring both hands together over the lap, fingertips fiddling at ~1.5 Hz."""
    e = m.env(0.5)
    for side, sx in enumerate(SIDE_SIGN):
        reach(track, f, side, "lap", e, m.constant([sx * 0.015, 0.03, 0.0]))
        phase = 0.0 if side == 0 else np.pi / 2
        fiddle = 0.35 + 0.25 * np.sin(2 * np.pi * 1.5 * m.freq * m.tau + phase) * m.amp
        track.hand_curl[f, side] += fiddle * e
        track.hand_bend[f, side] += 0.4 * e


@register(22, ("arm",), BOUND_LAP, finger_landmarks)
def _other_finger_movements(track: PoseTrack, f: slice, m: Motion) -> None:
    """Fingers of one hand drum on the thigh (~5.5 Hz) while the wrist stays where it is:
    the only class in which nothing but the fingers moves."""
    e = m.env(0.25)
    track.hand_bend[f, m.side] += (0.22 * m.osc(5.5) - 0.15) * e * m.amp
    track.hand_curl[f, m.side] += (0.2 + 0.2 * m.osc(5.5, phase=np.pi / 2)) * e


@register(23, ("arm",), BOUND_GESTURE, arm_landmarks)
def _illustrative_gestures(track: PoseTrack, f: slice, m: Motion) -> None:
    """One open hand in front of the chest, beating down (~1.4 Hz) while sweeping slowly
    sideways, as when explaining something; lower and slower than waving."""
    sx = SIDE_SIGN[m.side]
    e = m.env(0.4)
    offset = m.constant([sx * 0.12, -0.04, 0.08])
    offset[:, 1] -= 0.035 * m.amp * m.bump(1.4)
    offset[:, 0] += sx * 0.04 * m.amp * m.osc(0.5)
    reach(track, f, m.side, "chest_front", e, offset, pole=(0.8, -0.6, 0.0))
    track.hand_curl[f, m.side] -= 0.2 * e
    track.hand_bend[f, m.side] -= 0.2 * e
