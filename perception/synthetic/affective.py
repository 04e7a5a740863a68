"""Latent affective states for the synthetic emotion set: how a video's state shapes its
micro-action statistics, and nothing else.

With ``SyntheticConfig(affect=AffectConfig())`` every video gets one of the states below. A
state tilts *which* micro-actions happen (log multipliers on the class weights of the timeline
sampler) and *how many* (a factor on the instance count). It never touches appearance, the
camera, idle motion or how an action is drawn, and every subject shows every state about
equally often, so a model that recognises the state from the video must have picked up the
micro-actions; appearance alone gives chance.

The task is made deliberately hard to separate, three ways:

- **intensity**: each video shows its state at a random intensity in ``intensity`` (the tilt
  and activity change are scaled by it), so weak stress looks much like calm;
- **subject style**: each subject has habitual class preferences (log-normal, std
  ``subject_style``) and an activity level (std ``subject_activity``) that hold in all of its
  videos, like people who always touch their face. A style can mimic another state's tilt;
- **few instances**: videos keep the real MMA-52 instance counts (2-10, mostly 2-3), so a
  video is a small sample of its state's distribution.

The tilts are plausible-sounding choices (more self-touching and leg shaking under stress,
more nodding under engagement), not findings: this set tests the emotion pipeline, not
psychology.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from perception.taxonomy import NUM_ACTIONS


@dataclass(frozen=True)
class AffectiveState:
    """One latent state: log multipliers on class weights and an instance-count factor, both
    at full intensity."""

    name: str
    tilts: Mapping[int, float]
    activity: float


# Class indices as in perception/taxonomy.py (every class has a synthetic motion).
STATES: tuple[AffectiveState, ...] = (
    AffectiveState(
        "calm",
        {8: 1.2, 29: 1.5, 49: 1.2, 48: 0.8, 24: -2.0, 32: -2.0, 41: -2.0, 43: -2.0, 21: -1.0},
        activity=0.5,
    ),
    AffectiveState(
        "stressed",
        {24: 3.0, 32: 4.0, 41: 4.0, 43: 4.0, 21: 2.5, 37: 2.5, 30: 2.0, 0: 1.5, 9: -2.0, 19: -1.5},
        activity=2.1,
    ),
    AffectiveState(
        "engaged",
        {9: 3.0, 7: 2.0, 19: 2.2, 17: 1.5, 2: 1.5, 24: -2.0, 37: -2.0, 8: -0.8},
        activity=1.4,
    ),
)
STATE_NAMES: tuple[str, ...] = tuple(state.name for state in STATES)


@dataclass(frozen=True)
class AffectConfig:
    """How strongly the latent state shows; part of the generator's config hash."""

    strength: float = 1.0  # scales every tilt and activity change; 0 = labels carry no signal
    intensity: tuple[float, float] = (0.25, 1.0)  # per-video intensity range
    subject_style: float = 0.5  # std of each subject's log class preferences
    subject_activity: float = 0.2  # std of each subject's log activity level

    def __post_init__(self) -> None:
        object.__setattr__(self, "intensity", tuple(float(v) for v in self.intensity))
        low, high = self.intensity if len(self.intensity) == 2 else (None, None)
        if low is None or not 0.0 <= low <= high:
            raise ValueError(
                f"affect intensity must be [low, high] with 0 <= low <= high, got {self.intensity}"
            )
        if self.strength < 0 or self.subject_style < 0 or self.subject_activity < 0:
            raise ValueError("affect strength, subject_style and subject_activity must be >= 0")


@dataclass(frozen=True)
class SubjectStyle:
    """A subject's habits, shared by all of its videos."""

    log_preference: np.ndarray  # (NUM_ACTIONS,) added to every class's log weight
    log_activity: float
    states: tuple[int, ...]  # the state of each of the subject's videos, in order


@dataclass(frozen=True)
class VideoAffect:
    """The latent state of one video and what it does to the timeline sampler."""

    state: int
    intensity: float
    class_bias: np.ndarray  # (NUM_ACTIONS,) multipliers on class weights
    count_scale: float  # factor on the instance count

    @property
    def label(self) -> str:
        return STATE_NAMES[self.state]


def tilt_vector(state: AffectiveState) -> np.ndarray:
    """The state's log multipliers as a dense (NUM_ACTIONS,) vector."""
    vector = np.zeros(NUM_ACTIONS)
    for cls, value in state.tilts.items():
        vector[cls] = value
    return vector


def sample_subject(config: AffectConfig, rng: np.random.Generator, num_videos: int) -> SubjectStyle:
    """A subject's style and the states of its videos: each state equally often (the counts
    differ by at most one, and which states get the extra videos is random), in random order,
    so a subject's identity says nothing about the label."""
    preference = (
        rng.normal(0.0, config.subject_style, NUM_ACTIONS) if config.subject_style else np.zeros(NUM_ACTIONS)
    )
    activity = float(rng.normal(0.0, config.subject_activity)) if config.subject_activity else 0.0
    states = np.resize(rng.permutation(len(STATES)), num_videos)
    return SubjectStyle(preference, activity, tuple(int(s) for s in rng.permutation(states)))


def video_affect(
    config: AffectConfig, subject: SubjectStyle, position: int, rng: np.random.Generator
) -> VideoAffect:
    """The ``position``-th video of a subject: its state at a random intensity, combined with
    the subject's style into the sampler's class bias and count factor."""
    state = subject.states[position]
    intensity = float(rng.uniform(*config.intensity))
    scale = config.strength * intensity
    bias = np.exp(scale * tilt_vector(STATES[state]) + subject.log_preference)
    count = float(STATES[state].activity ** scale * np.exp(subject.log_activity))
    return VideoAffect(state, intensity, bias, count)
