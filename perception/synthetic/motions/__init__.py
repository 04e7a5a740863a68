"""Class-specific micro-motions: what each of the 52 synthetic micro-actions does to the figure.

Each motion is a function of the time inside its instance that *adds* to the figure's
:class:`~perception.synthetic.figure.PoseTrack`. All of them are wrapped in an ease-in /
ease-out envelope that is exactly zero at both ends of the instance, so the action starts
and stops inside the annotated window; periodic ones oscillate at a class-specific
frequency, jittered per instance. Motions are built to be told apart by *which* joints
move, in *which* direction, at *what* rhythm and *where* a hand goes (e.g. nodding = head
pitch at ~1.8 Hz, shaking head = head yaw at ~2.3 Hz, turning head = one slow yaw and hold,
turning around = the same yaw carried by the shoulders), yet to stay subtle. The class
modules hold the motions by body group: ``body`` (A, B), ``arms`` (C), ``legs`` (D, G),
``self_touch`` (E, F); ``base`` the machinery.

Amplitude bound (documented, and checked by the tests): at ``amplitude=1`` the peak
displacement of any landmark, relative to the figure's height (vertical extent of its 33
rest landmarks in the image), is at most ``MotionSpec.max_displacement``, by kind of motion:

======================  =====  ================================================================
kind                    bound  classes
======================  =====  ================================================================
subtle (in place)       0.07   body and head motions, feet and knees (0-2, 5-10, 24, 26, 27,
                               29-31)
lap                     0.12   hands that stay on the thighs (16, 18, 22, 48-50)
posture                 0.30   the trunk or a whole leg changes posture (3 turning around,
                               4 rising up, 25 curling legs, 28 crossing legs)
gesture                 0.45   hands in front of the body (11-15, 17, 19-21, 23, 33, 36, 37)
reach                   0.60   a hand travels from the lap to the face, neck, the other
                               shoulder, the back or a foot (32, 34, 35, 41, 43, 45, 46, 51):
                               the smallest travel those classes physically allow
reach, upper head       0.70   the same to the eyes, forehead, ears, hair or the back of the
                               head (38-40, 42, 44, 47), a hand's length higher
======================  =====  ================================================================

``amplitude`` scales rotations, offsets and oscillations. Reach classes always reach their
body anchor, and the two postures a reach depends on (crossing a leg, leaning forward to
a foot) always complete; only what happens there scales. In pixels at 160x160 the head and
body classes move the most-affected landmark by about 2-5 px at their peak, leg classes
2-7 px, lap-bound hand classes 1-8 px, the posture classes 8 (turning around) to 36 px
(crossing legs).
"""

from __future__ import annotations

from perception.synthetic.motions import arms, body, legs, self_touch  # noqa: F401  (they register)
from perception.synthetic.motions.base import (
    AMP_JITTER,
    BOUND_GESTURE,
    BOUND_LAP,
    BOUND_POSTURE,
    BOUND_REACH,
    BOUND_SUBTLE,
    BOUND_TO_HEAD,
    BOUND_UPPER_HEAD,
    FREQ_JITTER,
    MOTIONS,
    Motion,
    MotionSpec,
    apply_instance,
    arm_landmarks,
    check_classes,
    envelope,
    leg_landmarks,
)
from perception.taxonomy import NUM_ACTIONS

SUPPORTED_CLASSES: tuple[int, ...] = tuple(sorted(MOTIONS))
# The whole taxonomy: the MMAD default covers every class, at the real class imbalance.
DEFAULT_CLASSES: tuple[int, ...] = tuple(range(NUM_ACTIONS))

__all__ = [
    "AMP_JITTER",
    "BOUND_GESTURE",
    "BOUND_LAP",
    "BOUND_POSTURE",
    "BOUND_REACH",
    "BOUND_SUBTLE",
    "BOUND_TO_HEAD",
    "BOUND_UPPER_HEAD",
    "DEFAULT_CLASSES",
    "FREQ_JITTER",
    "MOTIONS",
    "Motion",
    "MotionSpec",
    "SUPPORTED_CLASSES",
    "apply_instance",
    "arm_landmarks",
    "check_classes",
    "envelope",
    "leg_landmarks",
]
