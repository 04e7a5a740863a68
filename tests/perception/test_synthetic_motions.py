"""All 52 synthetic micro-action motions: registered, bounded, reaching, and told apart.

The distinguishability test is the strong one: a random forest on simple hand-made
landmark-motion features (how far each landmark moves and in which direction, where the
hands are at the peak, the rhythm of each body part), fitted on some rendered instances and
scored on instances with other subjects, other jitter and other timing. If two classes were
the same motion under different names, or a class did nothing visible, it could not pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from perception.skeleton import MIRROR_ORDER
from perception.synthetic import figure as fig
from perception.synthetic.motions import (
    DEFAULT_CLASSES,
    MOTIONS,
    SUPPORTED_CLASSES,
    apply_instance,
)
from perception.synthetic.motions.base import MotionSpec
from perception.taxonomy import NUM_ACTIONS, body_of

FPS = 30.0
FRAMES = 90
GROUPS = {
    "head": tuple(range(11)),
    "shoulders": (11, 12),
    "arm_l": (13, 15, 17, 19, 21),
    "arm_r": (14, 16, 18, 20, 22),
    "hips": (23, 24),
    "leg_l": (25, 27, 29, 31),
    "leg_r": (26, 28, 30, 32),
}
# Classes whose hands go to a body point (all body-hand and head-hand classes among them).
REACH_CLASSES = {11, 12, 13, 14, 15, 19, 21, 23, *range(32, 48), 51}


def test_every_class_has_a_motion_and_all_are_default() -> None:
    assert SUPPORTED_CLASSES == tuple(range(NUM_ACTIONS)) == DEFAULT_CLASSES
    for cls, spec in MOTIONS.items():
        assert spec.cls == cls and spec.apply.__doc__, cls  # each motion says what it does
        for side in (0, 1):
            landmarks = spec.landmarks_of(side)
            assert landmarks and all(0 <= i < 33 for i in landmarks), spec.name
            limbs = spec.limbs_for(side)
            assert limbs and all(
                limb in ("torso", "head", "shoulders", "arm_l", "arm_r", "leg_l", "leg_r") for limb in limbs
            ), (spec.name, limbs)


def test_limbs_of_two_limb_sided_classes() -> None:
    crossing_legs, scratching_arms = MOTIONS[28], MOTIONS[11]
    assert crossing_legs.sided and crossing_legs.limbs_for(0) == ("leg_l", "leg_r")
    assert scratching_arms.limbs_for(1) == ("arm_r", "arm_l")  # the scratching hand first
    spec = MotionSpec(0, ("other_arm", "head"), True, 0.1, MOTIONS[0].apply, MOTIONS[0].landmarks_of)
    assert spec.limbs_for(0) == ("arm_r", "head") and spec.limbs_for(1) == ("arm_l", "head")


def _instance_track(cls: int, side: int, seed: int, n: int = FRAMES, start: int = 15, end: int = 75):
    track = fig.PoseTrack(n)
    apply_instance(track, cls, start, end, FPS, side, 1.0, np.random.default_rng(seed))
    return track


@pytest.mark.parametrize("cls", sorted(REACH_CLASSES))
def test_reach_classes_reach_their_anchor(cls: int) -> None:
    """While a reach is at full weight the fingertips are on its anchor (plus offset) to within
    a finger's width (1.5 cm), for subjects of different build and for either hand."""
    for subject, side in ((0, 0), (5, 1), (11, 0)):
        track = _instance_track(cls, side, subject)
        assert track.reaches, MOTIONS[cls].name
        app = fig.sample_appearance(np.random.default_rng(subject))
        anchors: dict[str, np.ndarray] = {}
        joints = fig.skeleton(app, track, anchors)
        for reach in track.reaches:
            full = reach.weight >= 1.0 - 1e-9
            assert full.sum() >= 10, MOTIONS[cls].name
            tag = "left" if reach.side == 0 else "right"
            target = anchors[reach.anchor] + reach.offset
            gap = np.linalg.norm(joints[f"{tag}_fingertips"] - target, axis=-1)[full]
            assert gap.max() < 0.015, (MOTIONS[cls].name, reach.anchor, gap.max())


def test_only_the_reach_classes_reach() -> None:
    reaching = {cls for cls in MOTIONS if _instance_track(cls, 0, 0).reaches}
    assert reaching == REACH_CLASSES


def test_playing_objects_holds_an_object_and_nothing_else_does() -> None:
    holding = {cls for cls in MOTIONS if _instance_track(cls, 0, 0).held_object.max() > 0.5}
    assert holding == {12}
    track = _instance_track(12, 0, 0)
    assert track.held_object[:15].max() == 0 and track.held_object[75:].max() == 0
    app = fig.sample_appearance(np.random.default_rng(3))
    cam = fig.make_camera(app, 128)
    joints = fig.skeleton(app, track)
    parts = fig.build_parts(app, cam, joints)
    with_object = fig.draw_frame(np.zeros((128, 128, 3), np.uint8), parts, 45)
    assert (
        "object_weight" in joints
        and len(parts) == len(fig.build_parts(app, cam, fig.skeleton(app, _instance_track(21, 0, 0)))) + 1
    )
    # Drawing the same pose without the object differs exactly where the object is.
    track.held_object[:] = 0
    without = fig.draw_frame(
        np.zeros((128, 128, 3), np.uint8), fig.build_parts(app, cam, fig.skeleton(app, track)), 45
    )
    changed = np.any(with_object != without, axis=-1)
    assert 10 < changed.sum() < 400


def test_rising_up_is_the_only_class_that_moves_the_hips() -> None:
    app = fig.sample_appearance(np.random.default_rng(2))
    cam = fig.make_camera(app, 160)
    moved = set()
    for cls in MOTIONS:
        lm = fig.landmarks33(cam, fig.skeleton(app, _instance_track(cls, 0, 0)), 160)
        if np.abs(lm[:, (23, 24), :2] - lm[0, (23, 24), :2]).max() > 1e-6:
            moved.add(cls)
    assert moved == {4}


# --------------------------------------------------------------------------- distinguishability


def _render_instance(cls: int, k: int) -> np.ndarray:
    """Landmarks (T, 33, 2) of one instance with idle life, on subject ``k``, random timing/side."""
    rng = np.random.default_rng([cls, k])
    app = fig.sample_appearance(np.random.default_rng([1000 + k]))
    cam = fig.make_camera(app, 160)
    length = int(rng.integers(36, 75))
    start = int(rng.integers(3, FRAMES - length - 3))
    track = fig.PoseTrack(FRAMES)
    fig.add_idle(track, FPS, rng)
    apply_instance(track, cls, start, start + length, FPS, int(rng.integers(2)), 1.0, rng)
    return fig.landmarks33(cam, fig.skeleton(app, track), 160)[..., :2].astype(np.float64)


def motion_features(lm: np.ndarray) -> np.ndarray:
    """Hand-made, side-invariant features of a landmark sequence (T, 33, 2).

    Normalised by the figure's height and centred on the hips; mirrored so the arm that moves
    more is always the subject's left. Per landmark: peak and mean displacement; the wrists and
    index fingers at the peak frame relative to the nose; per body part: spectral centroid,
    dominant frequency and log mean speed.
    """
    rest = lm[0]
    lm = (lm - 0.5 * (rest[23] + rest[24])) / (rest[:, 1].max() - rest[:, 1].min())
    left = np.abs(lm[:, 11:23:2] - lm[0, 11:23:2]).sum()
    right = np.abs(lm[:, 12:23:2] - lm[0, 12:23:2]).sum()
    if right > left:
        lm = lm[:, MIRROR_ORDER] * np.array([-1.0, 1.0])
    d = lm - lm[0]
    magnitude = np.linalg.norm(d, axis=-1)
    peak = int(np.argmax(magnitude.sum(axis=1)))
    out = [magnitude.max(axis=0), d.mean(axis=0).ravel(), (lm[peak, (15, 16, 19, 20)] - lm[0, 0]).ravel()]
    freqs = np.fft.rfftfreq(len(lm), 1 / FPS)[1:]
    for idx in GROUPS.values():
        g = d[:, list(idx)].reshape(len(d), -1)
        g = g - g.mean(axis=0)
        spectrum = np.abs(np.fft.rfft(g, axis=0)).sum(axis=1)[1:]
        spectrum = spectrum / max(spectrum.sum(), 1e-12)
        speed = np.abs(np.diff(g, axis=0)).mean()
        out.append([float((spectrum * freqs).sum()), float(freqs[np.argmax(spectrum)]), np.log(speed + 1e-6)])
    return np.concatenate([np.ravel(o) for o in out])


@pytest.fixture(scope="module")
def instance_features() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, labels, subjects = [], [], []
    for cls in sorted(MOTIONS):
        for k in range(10):
            rows.append(motion_features(_render_instance(cls, k)))
            labels.append(cls)
            subjects.append(k)
    return np.array(rows), np.array(labels), np.array(subjects)


@pytest.mark.slow
def test_classes_are_distinguishable_by_a_simple_classifier(instance_features) -> None:
    x, y, subject = instance_features
    train = subject < 6  # scored on 4 unseen subjects per class
    model = RandomForestClassifier(n_estimators=300, random_state=0).fit(x[train], y[train])
    predicted = model.predict(x[~train])
    accuracy = float((predicted == y[~train]).mean())
    assert accuracy > 0.85, accuracy  # chance is 1/52
    per_class = {c: (predicted[y[~train] == c] == c).mean() for c in MOTIONS}
    assert sum(v == 0 for v in per_class.values()) == 0, [c for c, v in per_class.items() if v == 0]
    body_accuracy = np.mean(
        [body_of(int(a)) == body_of(int(b)) for a, b in zip(predicted, y[~train], strict=True)]
    )
    assert body_accuracy > 0.9, body_accuracy


@pytest.mark.slow
def test_the_classifier_control_with_permuted_labels_is_at_chance(instance_features) -> None:
    x, y, subject = instance_features
    train = subject < 6
    shuffled = np.random.default_rng(0).permutation(y[train])
    model = RandomForestClassifier(n_estimators=300, random_state=0).fit(x[train], shuffled)
    accuracy = float((model.predict(x[~train]) == y[~train]).mean())
    assert accuracy < 0.08, accuracy  # chance 0.019: the features carry no label by themselves
