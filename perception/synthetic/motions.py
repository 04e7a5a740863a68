"""Class-specific micro-motions: what each synthetic micro-action does to the figure's pose.

Each motion is a function of the time inside its instance that *adds* to the figure's
:class:`~perception.synthetic.figure.PoseTrack`. All of them are wrapped in an ease-in /
ease-out envelope that is exactly zero at both ends of the instance, so the action
starts and stops inside the annotated window; periodic ones oscillate at a class-specific
frequency. Motions are built to be told apart by *which* joints move, in *which*
direction and at *what* rhythm (e.g. nodding = head pitch at ~1.8 Hz, shaking head =
head yaw at ~2.3 Hz, turning head = one slow yaw and hold), yet to stay subtle.

Amplitude bound (documented, and checked by the tests): at ``amplitude=1`` the peak
displacement of any landmark, relative to the figure's height (vertical extent of its 33
rest landmarks in the image), is at most ``MotionSpec.max_displacement``:
0.07 for body/head/leg/foot motions, 0.12 for hand motions that stay on the lap
(patting, touching legs, ...), 0.45 for gestures (waving, stretching arms, crossing arms,
hands together) and 0.6 for hand-to-head/neck classes, whose hands must travel from the
lap to the face -- the smallest travel those classes physically allow. ``amplitude``
scales rotations, offsets and oscillations; reach classes always reach their body anchor
(a hand that stops short of the nose is not "touching nose"), only their rubbing scales.
In pixels at 160x160 the head and body classes move the most-affected landmark by about
2-5 px at their peak, leg classes 2-7 px, lap-bound hand classes 1-8 px.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from perception.synthetic.figure import SIDE_SIGN, PoseTrack, Reach
from perception.taxonomy import action

HEAD_LANDMARKS = tuple(range(11))
SHOULDER_LANDMARKS = (11, 12)
ELBOW_LANDMARKS = (13, 14)  # carried along when the shoulders or the trunk move

BOUND_SUBTLE = 0.07
BOUND_LAP = 0.12
BOUND_GESTURE = 0.45
BOUND_TO_HEAD = 0.6

# Per-instance variation so two instances of a class are never identical.
FREQ_JITTER = (0.85, 1.15)
AMP_JITTER = (0.85, 1.15)


def arm_landmarks(side: int) -> tuple[int, ...]:
    """Elbow, wrist, pinky, index and thumb of one arm (MediaPipe indices)."""
    return tuple(i + side for i in (13, 15, 17, 19, 21))


def leg_landmarks(side: int) -> tuple[int, ...]:
    """Knee, ankle, heel and foot index of one leg."""
    return tuple(i + side for i in (25, 27, 29, 31))


def envelope(tau: np.ndarray, duration: float, ramp: float) -> np.ndarray:
    """Smoothstep ease-in and ease-out; 0 at both ends of the instance, 1 in the middle.

    The ramp shrinks for short instances (at most a third of the duration each side) so
    even a 0.3 s instance has a complete, visible movement.
    """
    r = max(min(ramp, duration / 3.0), 1e-3)
    x = np.clip(np.minimum(tau, duration - tau) / r, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class Motion:
    """The per-instance inputs of a motion function."""

    tau: np.ndarray  # seconds since the instance start, one per frame inside it
    duration: float  # seconds
    side: int  # 0 left, 1 right (ignored by two-sided motions)
    amp: float  # global amplitude x per-instance jitter
    freq: float  # per-instance frequency factor (1 = the class's nominal rhythm)
    sign: float  # +1 / -1 direction for lateral motions (tilt left or right, turn left or right)

    def osc(self, hz: float) -> np.ndarray:
        return np.sin(2 * np.pi * hz * self.freq * self.tau)

    def bump(self, hz: float) -> np.ndarray:
        """One-sided oscillation in [0, 1] that starts at 0 (nod down and back up)."""
        return 0.5 - 0.5 * np.cos(2 * np.pi * hz * self.freq * self.tau)

    def env(self, ramp: float) -> np.ndarray:
        return envelope(self.tau, self.duration, ramp)

    def constant(self, vector) -> np.ndarray:
        return np.tile(np.asarray(vector, dtype=np.float64), (len(self.tau), 1))


ApplyFn = Callable[[PoseTrack, slice, Motion], None]


@dataclass(frozen=True)
class MotionSpec:
    """How one class moves the figure, and what that means for timelines and tests."""

    cls: int
    limbs: tuple[str, ...]  # "arm"/"leg" stand for the instance's chosen side
    sided: bool  # one-handed / one-legged: the side is drawn per instance
    max_displacement: float  # bound on peak landmark displacement / figure height (amplitude 1)
    apply: ApplyFn
    landmarks_of: Callable[[int], tuple[int, ...]]  # landmarks this motion drives, by side

    @property
    def name(self) -> str:
        return action(self.cls).name

    def limbs_for(self, side: int) -> tuple[str, ...]:
        """Concrete limbs used by an instance on ``side``: the unit of the no-overlap rule."""
        suffix = "_l" if side == 0 else "_r"
        return tuple(limb + suffix if limb in ("arm", "leg") else limb for limb in self.limbs)


MOTIONS: dict[int, MotionSpec] = {}


def _register(cls: int, limbs: tuple[str, ...], bound: float, landmarks: Callable[[int], tuple[int, ...]]):
    def wrap(fn: ApplyFn) -> ApplyFn:
        sided = any(limb in ("arm", "leg") for limb in limbs)
        MOTIONS[cls] = MotionSpec(cls, limbs, sided, bound, fn, landmarks)
        return fn

    return wrap


def _both_arms(_side: int) -> tuple[int, ...]:
    return arm_landmarks(0) + arm_landmarks(1)


def _both_legs(_side: int) -> tuple[int, ...]:
    return leg_landmarks(0) + leg_landmarks(1)


def _reach(track: PoseTrack, frames: slice, side: int, anchor: str, weight, offset, pole=None) -> None:
    """Add a reach that is zero outside the instance (the track holds full-length arrays)."""
    w = np.zeros(track.n)
    w[frames] = weight
    off = np.zeros((track.n, 3))
    off[frames] = offset
    track.reaches.append(Reach(side, anchor, w, off, pole))


# --------------------------------------------------------------------------- A: body


@_register(0, ("torso",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS + SHOULDER_LANDMARKS + ELBOW_LANDMARKS)
def _shaking_body(track: PoseTrack, f: slice, m: Motion) -> None:
    """Side-to-side rocking of the upper body at ~2.5 Hz (roll plus a small sway)."""
    wave = m.osc(2.5) * m.env(0.3) * m.amp
    track.torso_rot[f, 1] += 0.04 * wave
    track.torso_shift[f, 0] += 0.01 * wave


@_register(1, ("torso",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS + SHOULDER_LANDMARKS + ELBOW_LANDMARKS)
def _sitting_straightly(track: PoseTrack, f: slice, m: Motion) -> None:
    """Straighten up from the rest slouch and hold (a backward pitch, not an oscillation)."""
    track.torso_rot[f, 0] -= 0.1 * m.env(0.5) * m.amp
    track.head_rot[f, 0] -= 0.04 * m.env(0.5) * m.amp


@_register(2, ("shoulders",), BOUND_SUBTLE, lambda s: SHOULDER_LANDMARKS + ELBOW_LANDMARKS)
def _shrugging(track: PoseTrack, f: slice, m: Motion) -> None:
    """Both shoulders up and down, one shrug per ~1.2 s of instance."""
    shrugs = max(1, round(m.duration / 1.2))
    lift = np.sin(np.pi * shrugs * m.tau / m.duration) ** 2 * m.env(0.15) * m.amp
    track.shoulder_lift[f] += 0.032 * lift[:, None]


# --------------------------------------------------------------------------- B: head


@_register(5, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _bowing_head(track: PoseTrack, f: slice, m: Motion) -> None:
    """Lower the head and hold."""
    track.head_rot[f, 0] += 0.3 * m.env(0.5) * m.amp


@_register(6, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _head_up(track: PoseTrack, f: slice, m: Motion) -> None:
    """Raise the chin and hold."""
    track.head_rot[f, 0] -= 0.25 * m.env(0.5) * m.amp


@_register(7, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _tilting_head(track: PoseTrack, f: slice, m: Motion) -> None:
    """Roll the head towards one shoulder and hold."""
    track.head_rot[f, 2] += m.sign * 0.26 * m.env(0.4) * m.amp


@_register(8, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _turning_head(track: PoseTrack, f: slice, m: Motion) -> None:
    """Turn the head to one side and hold (a single slow yaw, unlike shaking)."""
    track.head_rot[f, 1] += m.sign * 0.4 * m.env(0.35) * m.amp


@_register(9, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _nodding(track: PoseTrack, f: slice, m: Motion) -> None:
    """Pitch down-and-up at ~1.8 Hz (one-sided: the head returns to rest between nods)."""
    track.head_rot[f, 0] += 0.22 * m.bump(1.8) * m.env(0.2) * m.amp


@_register(10, ("head",), BOUND_SUBTLE, lambda s: HEAD_LANDMARKS)
def _shaking_head(track: PoseTrack, f: slice, m: Motion) -> None:
    """Yaw left-right at ~2.3 Hz, symmetric about the rest orientation."""
    track.head_rot[f, 1] += 0.28 * m.osc(2.3) * m.env(0.2) * m.amp


# --------------------------------------------------------------------------- C: upper limb


@_register(16, ("arm_l", "arm_r"), BOUND_LAP, _both_arms)
def _clenching_fist(track: PoseTrack, f: slice, m: Motion) -> None:
    """Close both hands into fists on the thighs and hold, wrists flexing slightly."""
    e = m.env(0.3)
    track.hand_curl[f] += 0.9 * e[:, None]
    track.hand_bend[f] += 0.25 * e[:, None] * m.amp


@_register(17, ("arm_l", "arm_r"), BOUND_GESTURE, _both_arms)
def _stretching_arms(track: PoseTrack, f: slice, m: Motion) -> None:
    """Push both arms straight forward-down off the lap, fingers extended, then relax."""
    e = m.env(0.5) * m.amp
    for side, sx in enumerate(SIDE_SIGN):
        track.wrist_offset[f, side] += e[:, None] * np.array([sx * 0.04, 0.06, 0.2])
        track.hand_bend[f, side] -= 0.5 * e
        track.hand_curl[f, side] -= 0.3 * e


@_register(19, ("arm",), BOUND_GESTURE, lambda s: arm_landmarks(s))
def _waving(track: PoseTrack, f: slice, m: Motion) -> None:
    """Raise one hand in front of the shoulder and wave it sideways at ~2.7 Hz."""
    sx = SIDE_SIGN[m.side]
    e = m.env(0.4)
    offset = m.constant([sx * 0.07, -0.02, 0.2])
    offset[:, 0] += 0.04 * m.amp * m.osc(2.7) * e
    _reach(track, f, m.side, f"shoulder_{'l' if m.side == 0 else 'r'}", e, offset, pole=(0.3, -1.0, 0.0))
    track.hand_bend[f, m.side] -= 0.3 * e


@_register(21, ("arm_l", "arm_r"), BOUND_GESTURE, _both_arms)
def _hands_touching_fingers(track: PoseTrack, f: slice, m: Motion) -> None:
    """Bring both hands together over the lap, fingertips fiddling at ~1.5 Hz."""
    e = m.env(0.5)
    for side, sx in enumerate(SIDE_SIGN):
        _reach(track, f, side, "lap", e, m.constant([sx * 0.015, 0.03, 0.0]))
        phase = 0.0 if side == 0 else np.pi / 2
        fiddle = 0.35 + 0.25 * np.sin(2 * np.pi * 1.5 * m.freq * m.tau + phase) * m.amp
        track.hand_curl[f, side] += fiddle * e
        track.hand_bend[f, side] += 0.4 * e


# --------------------------------------------------------------------------- D: lower limb


@_register(24, ("leg",), BOUND_SUBTLE, lambda s: leg_landmarks(s))
def _shaking_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """Bounce one heel at ~4.5 Hz (toes on the floor), so the knee jitters up and down."""
    track.foot_pitch[f, m.side] += 0.16 * m.bump(4.5) * m.env(0.2) * m.amp


@_register(29, ("leg_l", "leg_r"), BOUND_SUBTLE, _both_legs)
def _stretching_feet(track: PoseTrack, f: slice, m: Motion) -> None:
    """Slide both feet forward with the toes pointing up, hold, slide back."""
    e = m.env(0.5) * m.amp
    for side, sx in enumerate(SIDE_SIGN):
        track.ankle_offset[f, side] += e[:, None] * np.array([sx * 0.012, 0.0, 0.08])
        track.foot_pitch[f, side] -= 0.3 * e


@_register(30, ("leg_l", "leg_r"), BOUND_SUBTLE, _both_legs)
def _retracting_feet(track: PoseTrack, f: slice, m: Motion) -> None:
    """Pull both feet back under the chair onto the toes, hold, return."""
    e = m.env(0.45) * m.amp
    for side in range(2):
        track.ankle_offset[f, side] += e[:, None] * np.array([0.0, 0.0, -0.06])
        track.foot_pitch[f, side] += 0.28 * e


@_register(31, ("leg_l", "leg_r"), BOUND_SUBTLE, _both_legs)
def _tiptoe(track: PoseTrack, f: slice, m: Motion) -> None:
    """Rise onto the toes of both feet in place and hold."""
    track.foot_pitch[f] += 0.35 * (m.env(0.3) * m.amp)[:, None]


# --------------------------------------------------------------------------- E: body-hand


@_register(32, ("arm",), BOUND_TO_HEAD, lambda s: arm_landmarks(s))
def _touching_neck(track: PoseTrack, f: slice, m: Motion) -> None:
    """Hand to the side of the neck, rubbing up and down at ~3 Hz."""
    e = m.env(0.5)
    offset = m.constant([0.0, 0.0, 0.02])
    offset[:, 1] += 0.012 * m.amp * m.osc(3.0)
    _reach(track, f, m.side, f"neck_{'l' if m.side == 0 else 'r'}", e, offset, pole=(0.9, -0.3, 0.1))


@_register(33, ("arm",), BOUND_GESTURE, lambda s: arm_landmarks(s))
def _touching_chest(track: PoseTrack, f: slice, m: Motion) -> None:
    """Hand flat on the chest, scratching sideways at ~3.5 Hz."""
    sx = SIDE_SIGN[m.side]
    e = m.env(0.5)
    offset = m.constant([sx * 0.03, 0.0, 0.02])
    offset[:, 0] += 0.012 * m.amp * m.osc(3.5)
    _reach(track, f, m.side, "chest", e, offset, pole=(0.5, -0.8, 0.2))


@_register(37, ("arm_l", "arm_r"), BOUND_GESTURE, _both_arms)
def _crossing_arms(track: PoseTrack, f: slice, m: Motion) -> None:
    """Fold the arms: each hand to the front of the opposite upper arm, elbows forward; hold."""
    e = m.env(0.6)
    _reach(track, f, 0, "upper_arm_r", e, m.constant([0.0, 0.0, 0.03]), pole=(0.5, -0.7, 0.6))
    _reach(track, f, 1, "upper_arm_l", e, m.constant([0.0, -0.04, 0.06]), pole=(0.5, -0.7, 0.6))
    track.hand_curl[f] += 0.7 * e[:, None]


# --------------------------------------------------------------------------- F: head-hand


@_register(41, ("arm",), BOUND_TO_HEAD, lambda s: arm_landmarks(s))
def _touching_face(track: PoseTrack, f: slice, m: Motion) -> None:
    """Fingers to the cheek, scratching with short fast strokes (~4 Hz)."""
    e = m.env(0.5)
    offset = m.constant([0.0, 0.0, 0.015])
    offset[:, 1] += 0.01 * m.amp * m.osc(4.0)
    _reach(track, f, m.side, f"cheek_{'l' if m.side == 0 else 'r'}", e, offset, pole=(0.8, -0.6, 0.0))
    track.hand_curl[f, m.side] += 0.3 * e


@_register(43, ("arm",), BOUND_TO_HEAD, lambda s: arm_landmarks(s))
def _touching_nose(track: PoseTrack, f: slice, m: Motion) -> None:
    """Index finger to the nose tip with a slow small rub (~1.5 Hz)."""
    e = m.env(0.45)
    offset = m.constant([0.0, -0.005, 0.015])
    offset[:, 0] += 0.006 * m.amp * m.osc(1.5)
    _reach(track, f, m.side, "nose", e, offset, pole=(0.8, -0.6, 0.0))
    track.hand_curl[f, m.side] += 0.5 * e


# --------------------------------------------------------------------------- G: leg-hand


@_register(48, ("arm_l", "arm_r"), BOUND_LAP, _both_arms)
def _patting_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """Both hands tap the thighs in unison at ~2.5 pats per second."""
    lift = np.abs(np.sin(np.pi * 2.5 * m.freq * m.tau)) * m.env(0.15) * m.amp
    track.wrist_offset[f, :, 1] += 0.035 * lift[:, None]
    track.hand_bend[f] -= 0.25 * lift[:, None]


@_register(49, ("arm",), BOUND_LAP, lambda s: arm_landmarks(s))
def _touching_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """One hand slides slowly along the thigh towards the knee and back (~0.8 Hz)."""
    slide = m.bump(0.8) * m.env(0.3) * m.amp
    track.wrist_offset[f, m.side, 2] += 0.07 * slide
    track.wrist_offset[f, m.side, 1] -= 0.01 * slide


@_register(50, ("arm",), BOUND_LAP, lambda s: arm_landmarks(s))
def _scratching_legs(track: PoseTrack, f: slice, m: Motion) -> None:
    """Fingers scratch the thigh with fast short strokes (~5 Hz), hand curled."""
    e = m.env(0.2)
    track.wrist_offset[f, m.side, 2] += 0.015 * m.osc(5.0) * e * m.amp
    track.hand_curl[f, m.side] += 0.5 * e
    track.hand_bend[f, m.side] += 0.3 * e


# Two or more frequent classes per body group (counts in the real training split):
# A 0 (368), 2 (128); B 8 (2039), 9 (1274), 7 (887), 10 (651); C 19 (946), 21 (879), 17 (391);
# D 24 (915), 30 (314), 29 (254); E 37 (109), 32 (44); F 43 (73), 41 (51); G 49 (743), 48 (284).
DEFAULT_CLASSES: tuple[int, ...] = (0, 2, 7, 8, 9, 10, 17, 19, 21, 24, 29, 30, 32, 37, 41, 43, 48, 49)
SUPPORTED_CLASSES: tuple[int, ...] = tuple(sorted(MOTIONS))


def check_classes(classes) -> tuple[int, ...]:
    """Validate an enabled-class list: unique, known, and each with a motion implemented."""
    result = tuple(sorted({int(c) for c in classes}))
    if not result:
        raise ValueError("at least one class must be enabled")
    missing = [c for c in result if c not in MOTIONS]
    if missing:
        raise ValueError(f"no synthetic motion for classes {missing}; supported: {list(SUPPORTED_CLASSES)}")
    return result


def apply_instance(
    track: PoseTrack,
    cls: int,
    start: int,
    end: int,
    fps: float,
    side: int,
    amplitude: float,
    rng: np.random.Generator,
) -> None:
    """Add one instance's motion to frames ``[start, end)`` of ``track``.

    Per-instance jitter (rhythm, size, direction) comes from ``rng``, which the caller
    derives from the video's seed, so rendering is reproducible.
    """
    spec = MOTIONS[cls]
    tau = np.arange(end - start) / fps
    motion = Motion(
        tau=tau,
        duration=(end - start) / fps,
        side=side,
        amp=amplitude * rng.uniform(*AMP_JITTER),
        freq=rng.uniform(*FREQ_JITTER),
        sign=float(rng.choice([-1.0, 1.0])),
    )
    spec.apply(track, slice(start, end), motion)
