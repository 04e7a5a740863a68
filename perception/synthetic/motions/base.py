"""The machinery every class motion uses: envelopes, per-instance jitter, the registry, reaches.

A motion is a function ``apply(track, frames, motion)`` that *adds* to the figure's
:class:`~perception.synthetic.figure.PoseTrack` inside the instance's frames; the class
modules (``body``, ``arms``, ``legs``, ``self_touch``) register one per class with
:func:`register`, which also records the class's limbs (for the timeline's no-overlap
rule), the landmarks it drives and its documented amplitude bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from perception.synthetic.figure import PoseTrack, Reach
from perception.taxonomy import NUM_ACTIONS, action

HEAD_LANDMARKS = tuple(range(11))
SHOULDER_LANDMARKS = (11, 12)
ELBOW_LANDMARKS = (13, 14)  # carried along when the shoulders or the trunk move
HIP_LANDMARKS = (23, 24)

# Peak landmark displacement / figure height at amplitude 1, by kind of motion (see __init__).
BOUND_SUBTLE = 0.07
BOUND_LAP = 0.12
BOUND_POSTURE = 0.3
BOUND_GESTURE = 0.45
BOUND_TO_HEAD = 0.6
BOUND_UPPER_HEAD = 0.7  # eyes, forehead, ears, hair, back of the head: the hand travels higher
BOUND_REACH = BOUND_TO_HEAD  # hand to the neck, shoulder, back or foot: the same kind of travel

# Per-instance variation so two instances of a class are never identical.
FREQ_JITTER = (0.85, 1.15)
AMP_JITTER = (0.85, 1.15)

SIDED_LIMBS = ("arm", "leg", "other_arm", "other_leg")  # resolved per instance by its side


def arm_landmarks(side: int) -> tuple[int, ...]:
    """Elbow, wrist, pinky, index and thumb of one arm (MediaPipe indices)."""
    return tuple(i + side for i in (13, 15, 17, 19, 21))


def finger_landmarks(side: int) -> tuple[int, ...]:
    """Pinky, index and thumb of one hand: what moves when only the fingers do."""
    return tuple(i + side for i in (17, 19, 21))


def leg_landmarks(side: int) -> tuple[int, ...]:
    """Knee, ankle, heel and foot index of one leg."""
    return tuple(i + side for i in (25, 27, 29, 31))


def both_arms(_side: int) -> tuple[int, ...]:
    return arm_landmarks(0) + arm_landmarks(1)


def both_legs(_side: int) -> tuple[int, ...]:
    return leg_landmarks(0) + leg_landmarks(1)


def side_tag(side: int) -> str:
    """Anchor suffix of a side: ``l`` for the subject's left (0), ``r`` for the right (1)."""
    return "l" if side == 0 else "r"


def envelope(tau: np.ndarray, duration: float, ramp: float) -> np.ndarray:
    """Smoothstep ease-in and ease-out; 0 at both ends of the instance, 1 in the middle.

    The ramp shrinks for short instances (at most a third of the duration each side) so
    even a 0.3 s instance has a complete, visible movement.
    """
    r = max(min(ramp, duration / 3.0), 1e-3)
    x = np.clip(np.minimum(tau, duration - tau) / r, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def later(weight: np.ndarray, lag: float) -> np.ndarray:
    """A weight that starts rising only once ``weight`` passed ``lag`` (and falls back first):
    the second phase of a two-phase movement, still exactly zero at both ends."""
    x = np.clip((weight - lag) / (1.0 - lag), 0.0, 1.0)
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

    def osc(self, hz: float, phase: float = 0.0) -> np.ndarray:
        return np.sin(2 * np.pi * hz * self.freq * self.tau + phase)

    def bump(self, hz: float) -> np.ndarray:
        """One-sided oscillation in [0, 1] that starts at 0 (nod down and back up)."""
        return 0.5 - 0.5 * np.cos(2 * np.pi * hz * self.freq * self.tau)

    def circle(self, hz: float, radius: float) -> np.ndarray:
        """(T, 2) small circular rubbing: x = cos, y = sin, starting at the circle's right."""
        angle = 2 * np.pi * hz * self.freq * self.tau
        return radius * np.stack([np.cos(angle) - 1.0, np.sin(angle)], axis=1)

    def env(self, ramp: float) -> np.ndarray:
        return envelope(self.tau, self.duration, ramp)

    def constant(self, vector) -> np.ndarray:
        return np.tile(np.asarray(vector, dtype=np.float64), (len(self.tau), 1))


ApplyFn = Callable[[PoseTrack, slice, Motion], None]


@dataclass(frozen=True)
class MotionSpec:
    """How one class moves the figure, and what that means for timelines and tests."""

    cls: int
    limbs: tuple[str, ...]  # "arm"/"leg" = the instance's side, "other_arm"/"other_leg" = the other
    sided: bool  # one-handed / one-legged: the side is drawn per instance
    max_displacement: float  # bound on peak landmark displacement / figure height (amplitude 1)
    apply: ApplyFn
    landmarks_of: Callable[[int], tuple[int, ...]]  # landmarks this motion drives, by side

    @property
    def name(self) -> str:
        return action(self.cls).name

    def limbs_for(self, side: int) -> tuple[str, ...]:
        """Concrete limbs used by an instance on ``side``: the unit of the no-overlap rule."""
        out = []
        for limb in self.limbs:
            if limb in SIDED_LIMBS:
                own = not limb.startswith("other_")
                limb = limb.removeprefix("other_") + ("_l" if (side == 0) == own else "_r")
            out.append(limb)
        return tuple(out)


MOTIONS: dict[int, MotionSpec] = {}


def register(cls: int, limbs: tuple[str, ...], bound: float, landmarks: Callable[[int], tuple[int, ...]]):
    """Decorator: make ``fn`` the motion of class ``cls`` (one motion per class)."""

    def wrap(fn: ApplyFn) -> ApplyFn:
        if cls in MOTIONS:
            raise ValueError(f"class {cls} already has a motion ({MOTIONS[cls].apply.__name__})")
        sided = any(limb in SIDED_LIMBS for limb in limbs)
        MOTIONS[cls] = MotionSpec(cls, limbs, sided, bound, fn, landmarks)
        return fn

    return wrap


def reach(track: PoseTrack, frames: slice, side: int, anchor: str, weight, offset, pole=None) -> None:
    """Add a reach that is zero outside the instance (the track holds full-length arrays)."""
    w = np.zeros(track.n)
    w[frames] = weight
    off = np.zeros((track.n, 3))
    off[frames] = offset
    track.reaches.append(Reach(side, anchor, w, off, pole))


def check_classes(classes) -> tuple[int, ...]:
    """Validate an enabled-class list: unique, known, and each with a motion implemented."""
    result = tuple(sorted({int(c) for c in classes}))
    if not result:
        raise ValueError("at least one class must be enabled")
    unknown = [c for c in result if not 0 <= c < NUM_ACTIONS]
    if unknown:
        raise ValueError(f"unknown micro-action classes {unknown} (valid: 0..{NUM_ACTIONS - 1})")
    missing = [c for c in result if c not in MOTIONS]
    if missing:
        raise ValueError(f"no synthetic motion for classes {missing}; supported: {sorted(MOTIONS)}")
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
