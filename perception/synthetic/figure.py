"""A seated human-like figure: pose parameters -> 3D skeleton -> drawing + MediaPipe landmarks.

Why a 3D skeleton for a 2D drawing: the figure sits at a per-subject angle to the camera,
so forward motions (stretching feet, reaching to the face) and head rotations (nodding,
shaking) show up in the image the way they do in real footage, and the 33 landmarks are
computed from exactly the joints the drawing uses (they match it to the pixel).

Body frame (units of roughly a metre): origin at the middle of the hips on the seat,
+x = the subject's left, +y = up, +z = forward (towards the camera when the yaw is 0).
Side index 0 is the subject's left (MediaPipe's odd "left_*" landmarks), 1 the right.
Every frame's pose is a :class:`PoseTrack` row; all fields zero = the subject's rest pose.
Everything is vectorised over frames so a whole video's skeleton costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

SIDE_SIGN = (1.0, -1.0)  # x direction of the left (0) and right (1) side
UP = np.array([0.0, 1.0, 0.0])
BACK = np.array([0.0, 0.0, -1.0])
THIGH_CARRY = 0.4  # hands resting on the thighs move by this share of a pelvis lift
SHIFT = 4  # OpenCV fixed-point bits: sub-pixel motion renders smoothly (anti-aliased)
_FIX = float(1 << SHIFT)

LANDMARK_NAMES = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
NUM_LANDMARKS = len(LANDMARK_NAMES)  # 33, MediaPipe Pose order
DIRECTIONS = ("head_up", "head_forward")  # skeleton entries that are unit vectors, not points
NOT_POINTS = DIRECTIONS + ("object_weight",)  # skeleton entries that are not projected

# Face points in the head frame for a head radius of 0.1 (x = subject's left).
_FACE = {
    "nose": (0.0, -0.005, 0.098),
    "left_eye_inner": (0.016, 0.022, 0.086),
    "left_eye": (0.033, 0.024, 0.080),
    "left_eye_outer": (0.048, 0.023, 0.070),
    "left_ear": (0.082, 0.004, -0.004),
    "mouth_left": (0.022, -0.043, 0.082),
}


def _mirror(point: tuple[float, float, float]) -> tuple[float, float, float]:
    return (-point[0], point[1], point[2])


FACE_POINTS = dict(_FACE)
for _name, _point in _FACE.items():
    if _name.startswith("left_"):
        FACE_POINTS["right_" + _name[5:]] = _mirror(_point)
    elif _name == "mouth_left":
        FACE_POINTS["mouth_right"] = _mirror(_point)


# --------------------------------------------------------------------------- appearance


@dataclass(frozen=True)
class Appearance:
    """Everything fixed for one subject: proportions, rest posture, camera, colours (RGB)."""

    torso_len: float
    shoulder_w: float
    hip_w: float
    neck_len: float
    head_r: float
    upper_arm: float
    forearm: float
    hand_len: float
    thigh: float
    shin: float
    foot_len: float
    limb_r: float  # thickness multiplier
    rest_pitch: float  # slouch (rad)
    rest_head_pitch: float
    rest_wrist: np.ndarray  # (2, 3) hands resting on the thighs
    rest_heel: np.ndarray  # (2, 3) heels on the floor
    floor_y: float
    cam_yaw: float
    cam_pitch: float
    scale_frac: float  # figure height as a fraction of the frame
    center: tuple[float, float]  # figure centre offset as a fraction of the frame
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    sleeve_long: bool
    trousers: tuple[int, int, int]
    shoes: tuple[int, int, int]
    wall: tuple[int, int, int]
    floor: tuple[int, int, int]
    chair: tuple[int, int, int]


_SKINS = ((241, 194, 167), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 190), (176, 120, 82))
_HAIRS = ((40, 28, 20), (90, 56, 30), (20, 20, 20), (160, 120, 60), (120, 120, 120), (70, 40, 25))


def _colour(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))


def _jitter(rng: np.random.Generator, base: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in base)


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """A random but plausible subject; the same generator state always gives the same subject."""
    k = rng.uniform(0.93, 1.07)  # overall proportion factor for limbs
    torso_len = 0.50 * rng.uniform(0.92, 1.08)
    shoulder_w = 0.19 * rng.uniform(0.88, 1.12)
    hip_w = 0.095 * rng.uniform(0.9, 1.12)
    thigh = 0.43 * k
    shin = 0.43 * k
    floor_y = -shin + rng.uniform(-0.05, 0.0)
    spread = rng.uniform(0.10, 0.17)
    heel_z = thigh * rng.uniform(0.92, 1.05)
    rest_heel = np.array([[spread, floor_y, heel_z], [-spread, floor_y, heel_z + rng.uniform(-0.04, 0.04)]])
    wrist_x = rng.uniform(0.11, 0.16)
    wrist_z = thigh * rng.uniform(0.55, 0.72)
    rest_wrist = np.array([[wrist_x, 0.085, wrist_z], [-wrist_x, 0.085, wrist_z + rng.uniform(-0.03, 0.03)]])
    skin = _jitter(rng, _SKINS[int(rng.integers(len(_SKINS)))], 10)
    wall = _colour(rng, 110, 240)
    return Appearance(
        torso_len=torso_len,
        shoulder_w=shoulder_w,
        hip_w=hip_w,
        neck_len=0.09 * rng.uniform(0.85, 1.15),
        head_r=0.1 * rng.uniform(0.92, 1.08),
        upper_arm=0.29 * k,
        forearm=0.27 * k,
        hand_len=0.09 * k,
        thigh=thigh,
        shin=shin,
        foot_len=0.2 * k,
        limb_r=rng.uniform(0.9, 1.15),
        rest_pitch=rng.uniform(0.0, 0.08),
        rest_head_pitch=rng.uniform(-0.05, 0.08),
        rest_wrist=rest_wrist,
        rest_heel=rest_heel,
        floor_y=floor_y,
        cam_yaw=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.55)),
        cam_pitch=rng.uniform(0.12, 0.3),
        scale_frac=rng.uniform(0.74, 0.86),
        center=(rng.uniform(-0.06, 0.06), rng.uniform(-0.03, 0.03)),
        skin=skin,
        hair=_jitter(rng, _HAIRS[int(rng.integers(len(_HAIRS)))], 12),
        shirt=_colour(rng),
        sleeve_long=bool(rng.random() < 0.6),
        trousers=_colour(rng, 15, 140),
        shoes=_colour(rng, 5, 70),
        wall=wall,
        floor=tuple(int(v * rng.uniform(0.45, 0.75)) for v in _colour(rng, 90, 220)),
        chair=_colour(rng, 20, 120),
    )


# --------------------------------------------------------------------------- pose parameters


@dataclass
class Reach:
    """One arm moving its wrist towards a body anchor (e.g. the nose) with a time-varying weight.

    The anchor is resolved after the torso and head are posed, so a hand touching the nose
    follows the head even while the subject nods.
    """

    side: int
    anchor: str
    weight: np.ndarray  # (T,) in [0, 1]
    offset: np.ndarray  # (T, 3) added to the anchor point, body axes
    pole: tuple[float, float, float] | None = None  # elbow direction while reaching (x for the left arm)


@dataclass
class PoseTrack:
    """Per-frame pose parameters of one video; zeros are the rest pose. Motions add to them."""

    n: int
    torso_rot: np.ndarray = field(init=False)  # (T, 3) pitch (+ forward), roll (+ to the left), yaw (+ left)
    torso_shift: np.ndarray = field(init=False)  # (T, 3) upper-body translation
    breath: np.ndarray = field(init=False)  # (T,) chest expansion, about [-1, 1]
    shoulder_lift: np.ndarray = field(init=False)  # (T, 2)
    head_rot: np.ndarray = field(init=False)  # (T, 3) pitch (+ down), yaw (+ left), roll (+ left)
    wrist_offset: np.ndarray = field(init=False)  # (T, 2, 3)
    hand_bend: np.ndarray = field(init=False)  # (T, 2) wrist flexion (rad, + towards the palm)
    hand_curl: np.ndarray = field(init=False)  # (T, 2) 0 open .. 1 fist
    ankle_offset: np.ndarray = field(init=False)  # (T, 2, 3) moves the whole foot
    foot_pitch: np.ndarray = field(init=False)  # (T, 2) rad, + heel up (on toes), - toes up
    pelvis_shift: np.ndarray = field(init=False)  # (T, 3) lifts the hips off the seat (rising up)
    knee_pole: np.ndarray = field(init=False)  # (T, 2, 3) added to the knee direction (x for the left leg)
    held_object: np.ndarray = field(init=False)  # (T,) > 0.5: a small object is held between the hands
    reaches: list[Reach] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.n
        self.torso_rot = np.zeros((n, 3))
        self.torso_shift = np.zeros((n, 3))
        self.breath = np.zeros(n)
        self.shoulder_lift = np.zeros((n, 2))
        self.head_rot = np.zeros((n, 3))
        self.wrist_offset = np.zeros((n, 2, 3))
        self.hand_bend = np.zeros((n, 2))
        self.hand_curl = np.zeros((n, 2))
        self.ankle_offset = np.zeros((n, 2, 3))
        self.foot_pitch = np.zeros((n, 2))
        self.pelvis_shift = np.zeros((n, 3))
        self.knee_pole = np.zeros((n, 2, 3))
        self.held_object = np.zeros(n)


def _drift(rng: np.random.Generator, t: np.ndarray, amp: float, f_lo: float, f_hi: float) -> np.ndarray:
    """Smooth random drift: a sum of three slow sinusoids with random phases."""
    out = np.zeros_like(t)
    for _ in range(3):
        out += np.sin(2 * np.pi * rng.uniform(f_lo, f_hi) * t + rng.uniform(0, 2 * np.pi))
    return amp * out / 3.0


def add_idle(track: PoseTrack, fps: float, rng: np.random.Generator, scale: float = 1.0) -> None:
    """Class-independent life: postural sway, breathing, a wandering head, restless hands.

    It is present in every video (also outside instances) so a detector cannot treat
    "anything moves" as "an action happens"; amplitudes are a fraction of the smallest
    class motion. Deterministic given ``rng``.
    """
    t = np.arange(track.n) / fps
    track.torso_rot[:, 0] += scale * _drift(rng, t, 0.012, 0.05, 0.25)
    track.torso_rot[:, 1] += scale * _drift(rng, t, 0.010, 0.05, 0.25)
    track.torso_rot[:, 2] += scale * _drift(rng, t, 0.010, 0.03, 0.15)
    breath_f = rng.uniform(0.2, 0.35)
    track.breath += scale * np.sin(2 * np.pi * breath_f * t + rng.uniform(0, 2 * np.pi))
    for axis, amp in ((0, 0.015), (1, 0.02), (2, 0.012)):
        track.head_rot[:, axis] += scale * _drift(rng, t, amp, 0.04, 0.3) + scale * rng.uniform(-1, 1) * amp
    for side in range(2):
        for axis in range(3):
            track.wrist_offset[:, side, axis] += scale * _drift(rng, t, 0.004, 0.03, 0.2)
        track.hand_curl[:, side] += scale * (0.15 + _drift(rng, t, 0.08, 0.05, 0.3))


# --------------------------------------------------------------------------- kinematics


def _rx(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    r = np.zeros(a.shape + (3, 3))
    r[..., 0, 0] = 1
    r[..., 1, 1], r[..., 1, 2], r[..., 2, 1], r[..., 2, 2] = c, -s, s, c
    return r


def _ry(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    r = np.zeros(a.shape + (3, 3))
    r[..., 1, 1] = 1
    r[..., 0, 0], r[..., 0, 2], r[..., 2, 0], r[..., 2, 2] = c, s, -s, c
    return r


def _rz(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    r = np.zeros(a.shape + (3, 3))
    r[..., 2, 2] = 1
    r[..., 0, 0], r[..., 0, 1], r[..., 1, 0], r[..., 1, 1] = c, -s, s, c
    return r


def _rotation(pitch: np.ndarray, roll: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Body rotation: flex forward (pitch), lean to the left (roll), turn to the left (yaw)."""
    return _ry(yaw) @ _rz(-roll) @ _rx(pitch)


def _apply(rot: np.ndarray, local) -> np.ndarray:
    local = np.asarray(local, dtype=np.float64)
    if local.ndim == 1:
        return np.einsum("tij,j->ti", rot, local)
    return np.einsum("tij,tj->ti", rot, local)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _two_bone(root: np.ndarray, target: np.ndarray, a: float, b: float, pole: np.ndarray):
    """Analytic two-bone IK (shoulder-elbow-wrist, hip-knee-ankle); bone lengths stay fixed.

    Returns (middle joint, end joint); an unreachable target is approached as far as the
    limb allows, so landmarks always describe the drawn limb.
    """
    v = target - root
    d = np.linalg.norm(v, axis=-1, keepdims=True)
    u = v / np.maximum(d, 1e-9)
    d = np.clip(d, abs(a - b) + 1e-4, a + b - 1e-4)
    cos_a = np.clip((a * a + d * d - b * b) / (2 * a * d), -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a * cos_a)
    w = _unit(pole - np.sum(pole * u, axis=-1, keepdims=True) * u)
    mid = root + a * (cos_a * u + sin_a * w)
    return mid, root + u * d


def skeleton(
    app: Appearance, track: PoseTrack, anchors_out: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """3D points (T, 3) in the body frame for every landmark plus the extra drawing points.

    ``anchors_out``, when given, receives the reach anchors (T, 3) the arms were posed with.
    """
    n = track.n
    j: dict[str, np.ndarray] = {}
    rot = _rotation(track.torso_rot[:, 0] + app.rest_pitch, track.torso_rot[:, 1], track.torso_rot[:, 2])
    # The pelvis stays on the seat unless it is lifted (rising up); the upper body translates above it.
    base = track.torso_shift + track.pelvis_shift
    chest = 1.0 + 0.02 * track.breath[:, None]

    def torso(local) -> np.ndarray:
        return base + _apply(rot, local)

    j["neck_base"] = torso((0.0, app.torso_len, 0.0))
    for side, sx in enumerate(SIDE_SIGN):
        tag = "left" if side == 0 else "right"
        lift = track.shoulder_lift[:, side] + 0.004 * track.breath
        shoulder_local = np.stack(
            [np.full(n, sx * app.shoulder_w), app.torso_len - 0.03 + lift, np.zeros(n)], axis=1
        )
        shoulder_local[:, 0] *= chest[:, 0]
        j[f"{tag}_shoulder"] = torso(shoulder_local)
        j[f"{tag}_shoulder_outer"] = torso(shoulder_local + np.array([sx * 0.035, 0.015, 0.0]))
        j[f"{tag}_neck"] = torso((sx * 0.045, app.torso_len + 0.01, 0.0))
        j[f"{tag}_waist"] = torso(
            np.stack([sx * (app.hip_w + 0.06) * chest[:, 0], np.full(n, 0.2), np.zeros(n)], 1)
        )
        j[f"{tag}_hip"] = np.tile([sx * app.hip_w, 0.0, 0.0], (n, 1)) + track.pelvis_shift
        j[f"{tag}_hip_outer"] = np.tile([sx * (app.hip_w + 0.065), -0.02, 0.0], (n, 1)) + track.pelvis_shift

    head_rot = rot @ _rotation(
        track.head_rot[:, 0] + app.rest_head_pitch, track.head_rot[:, 2], track.head_rot[:, 1]
    )
    pivot = torso((0.0, app.torso_len + app.neck_len, 0.01))
    scale = app.head_r / 0.1
    j["head_pivot"] = pivot
    j["head_center"] = pivot + _apply(head_rot, (0.0, 0.9 * app.head_r, 0.01))
    for name, local in FACE_POINTS.items():
        j[name] = j["head_center"] + _apply(head_rot, np.asarray(local) * scale)
    j["head_up"] = _apply(head_rot, UP)
    j["head_forward"] = _apply(head_rot, (0.0, 0.0, 1.0))
    _legs(app, track, j)  # before the arms: a hand may reach for a foot
    anchors = _anchors(app, track, j, rot, base)
    if anchors_out is not None:
        anchors_out.update(anchors)
    _arms(app, track, j, anchors)
    if track.held_object.any():
        _held_object(track, j)
    return j


def _anchors(
    app: Appearance, track: PoseTrack, j: dict[str, np.ndarray], rot: np.ndarray, base: np.ndarray
) -> dict[str, np.ndarray]:
    """Body points a hand can reach for; named with _l/_r for the subject's left/right.

    Head anchors ride on the head (a hand on the forehead follows a nod), torso anchors on
    the torso, ``forearm_*`` on the other arm's resting forearm and ``ankle_*`` on the foot.
    """
    n = len(base)

    def head(local) -> np.ndarray:
        return j["head_center"] + _apply_head(j, local, app)

    def torso(local) -> np.ndarray:
        return base + _apply(rot, local)

    a: dict[str, np.ndarray] = {
        "nose": j["nose"],
        "chest": torso((0.0, app.torso_len - 0.14, 0.09)),
        "sternum": torso((0.0, app.torso_len - 0.09, 0.1)),
        "chest_front": torso((0.0, app.torso_len - 0.19, 0.24)),
        "belly": torso((0.0, 0.22, 0.2)),
        "forehead": head((0.0, 0.068, 0.084)),
        "bridge": head((0.0, 0.02, 0.1)),
        "mouth": head((0.0, -0.045, 0.092)),
        "hindbrain": head((0.0, 0.005, -0.115)),
    }
    a["lap"] = np.tile([0.0, 0.12, 0.62 * app.thigh], (n, 1))
    a["lap_high"] = np.tile([0.0, 0.26, 0.75 * app.thigh], (n, 1)) + THIGH_CARRY * track.pelvis_shift
    for side, sx in enumerate(SIDE_SIGN):
        s = "l" if side == 0 else "r"
        tag = "left" if side == 0 else "right"
        a[f"cheek_{s}"] = j["head_center"] + _apply_head(j, (sx * 0.062, -0.025, 0.075), app)
        a[f"neck_{s}"] = base + _apply(rot, (sx * 0.05, app.torso_len + 0.035, 0.04))
        a[f"shoulder_{s}"] = j[f"{tag}_shoulder"]
        a[f"upper_arm_{s}"] = j[f"{tag}_shoulder"] + _apply(rot, (sx * 0.02, -0.17, 0.07))
        a[f"shoulder_top_{s}"] = j[f"{tag}_shoulder"] + _apply(rot, (-sx * 0.01, 0.045, 0.03))
        a[f"back_{s}"] = torso((sx * 0.12, 0.13, -0.17))
        a[f"waist_{s}"] = torso((sx * (app.hip_w + 0.07), 0.19, 0.01))
        a[f"eye_{s}"] = head((sx * 0.034, 0.02, 0.095))
        a[f"ear_{s}"] = head((sx * 0.092, 0.0, 0.0))
        a[f"hair_{s}"] = head((sx * 0.06, 0.085, 0.01))
        a[f"forearm_{s}"] = (
            app.rest_wrist[side]
            + track.wrist_offset[:, side]
            + THIGH_CARRY * track.pelvis_shift
            + np.array([sx * 0.01, 0.045, -0.1])
        )
        a[f"ankle_{s}"] = j[f"{tag}_ankle"] + np.array([sx * 0.03, 0.02, 0.04])
    return a


def _apply_head(j: dict[str, np.ndarray], local, app: Appearance) -> np.ndarray:
    """Rotate a head-frame vector with the head's current orientation (from its up/forward axes)."""
    up, fwd = j["head_up"], j["head_forward"]
    left = np.cross(up, fwd)
    x, y, z = (c * app.head_r / 0.1 for c in local)
    return x * left + y * up + z * fwd


def _hand(app: Appearance, elbow, wrist, bend, curl, sx: float) -> dict[str, np.ndarray]:
    """Hand points from the forearm direction, wrist flexion and finger curl."""
    d = _unit(wrist - elbow)
    thumb_dir = _unit(np.cross(d, UP) + 0.5 * np.cross(d, BACK)) * sx
    palm = np.cross(d, thumb_dir) * sx
    hand = _unit(np.cos(bend) * d + np.sin(bend) * palm)
    fingers = _unit(np.cos(1.7 * curl) * hand + np.sin(1.7 * curl) * palm)
    hl = app.hand_len
    knuckles = wrist + 0.52 * hl * hand
    return {
        "index": wrist + 0.55 * hl * hand + 0.018 * thumb_dir,
        "pinky": wrist + 0.5 * hl * hand - 0.022 * thumb_dir,
        "thumb": wrist + 0.3 * hl * hand + 0.035 * thumb_dir + 0.01 * palm,
        "knuckles": knuckles,
        "fingertips": knuckles + 0.5 * hl * fingers,
    }


def _arms(
    app: Appearance, track: PoseTrack, j: dict[str, np.ndarray], anchors: dict[str, np.ndarray]
) -> None:
    """Arms by IK. A reach puts the *fingertips* on its anchor (plus offset): the wrist target
    is corrected by the wrist-to-fingertip vector of a first IK pass, so "touching nose"
    really ends with the fingers on the nose whatever the arm's proportions."""
    n = track.n
    for side, sx in enumerate(SIDE_SIGN):
        tag = "left" if side == 0 else "right"
        base = app.rest_wrist[side] + track.wrist_offset[:, side] + THIGH_CARRY * track.pelvis_shift
        pole = np.tile([sx * 0.8, -0.4, -0.45], (n, 1))
        mine = [r for r in track.reaches if r.side == side]
        for reach in mine:
            if reach.pole is not None:
                w = reach.weight[:, None]
                pole = (1 - w) * pole + w * np.array([sx * reach.pole[0], reach.pole[1], reach.pole[2]])
        pole = _unit(pole)
        bend = track.hand_bend[:, side][:, None]
        curl = np.clip(track.hand_curl[:, side], 0.0, 1.0)[:, None]
        shoulder = j[f"{tag}_shoulder"]
        tip_offset = np.zeros((n, 3))
        for _ in range(3 if mine else 1):
            target = base
            for reach in mine:
                w = reach.weight[:, None]
                target = target + w * (anchors[reach.anchor] + reach.offset - tip_offset - target)
            elbow, wrist = _two_bone(shoulder, target, app.upper_arm, app.forearm, pole)
            hand = _hand(app, elbow, wrist, bend, curl, sx)
            tip_offset = hand["fingertips"] - wrist
        j[f"{tag}_elbow"], j[f"{tag}_wrist"] = elbow, wrist
        for name, point in hand.items():
            j[f"{tag}_{name}"] = point


def _legs(app: Appearance, track: PoseTrack, j: dict[str, np.ndarray]) -> None:
    n = track.n
    for side, sx in enumerate(SIDE_SIGN):
        tag = "left" if side == 0 else "right"
        fwd = _unit(np.array([sx * 0.18, 0.0, 1.0]))
        heel_flat = app.rest_heel[side] + track.ankle_offset[:, side]
        toe_flat = heel_flat + app.foot_len * fwd
        phi = track.foot_pitch[:, side][:, None]
        on_toes = phi >= 0
        fl = app.foot_len
        # Heel up pivots about the toes; toes up pivot about the heel: the floor contact stays put.
        foot_dir = np.cos(phi) * fwd - np.sin(phi) * UP  # heel -> toe
        heel = np.where(on_toes, toe_flat - fl * foot_dir, heel_flat)
        toe = np.where(on_toes, toe_flat, heel_flat + fl * foot_dir)
        foot_up = np.sin(phi) * fwd + np.cos(phi) * UP
        ankle = heel + 0.075 * foot_up + 0.22 * fl * foot_dir
        hip = j[f"{tag}_hip"]
        pole = np.tile([sx * 0.25, 0.5, 1.0], (n, 1)) + track.knee_pole[:, side] * np.array([sx, 1.0, 1.0])
        knee, ankle = _two_bone(hip, ankle, app.thigh, app.shin, pole)
        j[f"{tag}_knee"], j[f"{tag}_ankle"] = knee, ankle
        j[f"{tag}_heel"], j[f"{tag}_foot_index"] = heel, toe


def _held_object(track: PoseTrack, j: dict[str, np.ndarray]) -> None:
    """A phone-sized object between the two hands' fingers (``playing objects``)."""
    a, b = j["left_fingertips"], j["right_fingertips"]
    middle, axis = 0.5 * (a + b), _unit(a - b + np.array([0.0, 0.0, 1e-3]))
    j["object_a"], j["object_b"] = middle + 0.045 * axis, middle - 0.045 * axis
    j["object_weight"] = track.held_object


# --------------------------------------------------------------------------- projection


@dataclass(frozen=True)
class Camera:
    """Orthographic camera: body frame -> pixel coordinates (u right, v down) plus depth."""

    rot: np.ndarray  # (3, 3)
    scale: float  # pixels per body unit
    cx: float
    cy: float

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) body points -> (..., 3) as (u, v, depth); larger depth = nearer the camera."""
        p = points @ self.rot.T
        return np.stack([self.cx + self.scale * p[..., 0], self.cy - self.scale * p[..., 1], p[..., 2]], -1)


def make_camera(app: Appearance, size: int) -> Camera:
    """Frame the seated figure (head top to floor) at ``scale_frac`` of the frame height."""
    rot = _rx(np.array(app.cam_pitch)) @ _ry(np.array(app.cam_yaw))
    top = app.torso_len + app.neck_len + 2.0 * app.head_r + 0.02
    extremes = np.array([[0.0, top, 0.0], [0.0, app.floor_y, app.rest_heel[0, 2] + app.foot_len]]) @ rot.T
    height = extremes[0, 1] - extremes[1, 1]
    scale = app.scale_frac * size / height
    mid = 0.5 * (extremes[0, 1] + extremes[1, 1])
    cx = size * (0.5 + app.center[0])
    cy = size * (0.5 + app.center[1]) + scale * mid
    return Camera(rot=rot, scale=scale, cx=cx, cy=cy)


def landmarks33(cam: Camera, joints: dict[str, np.ndarray], size: int) -> np.ndarray:
    """(T, 33, 4) float32 in MediaPipe's convention: x, y in [0, 1] of the frame, z relative
    to the hip midpoint in x's scale (smaller = nearer the camera), visibility 1."""
    pts = np.stack([joints[name] for name in LANDMARK_NAMES], axis=1)
    proj = cam.project(pts)
    hips = 0.5 * (proj[:, 23, 2] + proj[:, 24, 2])
    out = np.empty(pts.shape[:2] + (4,), dtype=np.float32)
    out[..., 0] = proj[..., 0] / size
    out[..., 1] = proj[..., 1] / size
    out[..., 2] = -(proj[..., 2] - hips[:, None]) * cam.scale / size
    out[..., 3] = 1.0
    return out


# --------------------------------------------------------------------------- drawing


def _capsule(p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, steps: int = 6) -> np.ndarray:
    """Outline (T, 2*steps+2, 2) of a tapered 2D capsule between two projected joints."""
    d = p1 - p0
    length = np.linalg.norm(d, axis=-1, keepdims=True)
    d = np.where(length > 1e-6, d / np.maximum(length, 1e-9), np.array([0.0, 1.0]))
    nrm = np.stack([-d[:, 1], d[:, 0]], -1)
    ang = np.linspace(0, np.pi, steps + 1)
    c, s = np.cos(ang)[None, :, None], np.sin(ang)[None, :, None]
    end = p1[:, None] + r1 * (c * nrm[:, None] + s * d[:, None])
    start = p0[:, None] + r0 * (-c * nrm[:, None] - s * d[:, None])
    return np.concatenate([end, start], axis=1)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * _FIX).astype(np.int32)


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in colour)


@dataclass
class _Part:
    depth: np.ndarray  # (T,) painter's key: drawn far to near
    draw: Callable[[np.ndarray, int], None]  # draws frame t of this part into the image


def build_parts(app: Appearance, cam: Camera, joints: dict[str, np.ndarray]) -> list[_Part]:
    """Precompute every part's outline for all frames; drawing a frame is then only cv2 calls."""
    P = {name: cam.project(p) for name, p in joints.items() if name not in NOT_POINTS}
    s = cam.scale
    lr = app.limb_r
    parts: list[_Part] = []

    def capsule(a: str, b: str, r0: float, r1: float, colour, bias: float = 0.0) -> None:
        outline = _fixed(_capsule(P[a][:, :2], P[b][:, :2], r0 * s, r1 * s))
        depth = 0.5 * (P[a][:, 2] + P[b][:, 2]) + bias

        def draw(img: np.ndarray, t: int, outline=outline, colour=colour) -> None:
            cv2.fillConvexPoly(img, outline[t], colour, cv2.LINE_AA, SHIFT)

        parts.append(_Part(depth, draw))

    sleeve = _shade(app.shirt, 0.92)
    for tag in ("left", "right"):
        capsule(f"{tag}_hip", f"{tag}_knee", 0.075 * lr, 0.058 * lr, app.trousers, 0.02)
        capsule(f"{tag}_knee", f"{tag}_ankle", 0.052 * lr, 0.04 * lr, _shade(app.trousers, 0.9), 0.03)
        capsule(f"{tag}_heel", f"{tag}_foot_index", 0.036, 0.03, app.shoes, 0.05)
        capsule(f"{tag}_shoulder", f"{tag}_elbow", 0.047 * lr, 0.04 * lr, sleeve, 0.0)
        capsule(
            f"{tag}_elbow",
            f"{tag}_wrist",
            0.038 * lr,
            0.03 * lr,
            sleeve if app.sleeve_long else app.skin,
            0.09,
        )
        capsule(f"{tag}_wrist", f"{tag}_knuckles", 0.026, 0.03, app.skin, 0.12)
        capsule(f"{tag}_knuckles", f"{tag}_fingertips", 0.026, 0.02, _shade(app.skin, 0.95), 0.125)
        capsule(f"{tag}_wrist", f"{tag}_thumb", 0.015, 0.012, _shade(app.skin, 0.93), 0.126)

    torso_names = (
        "left_shoulder_outer",
        "left_neck",
        "right_neck",
        "right_shoulder_outer",
        "right_waist",
        "right_hip_outer",
        "left_hip_outer",
        "left_waist",
    )
    torso_poly = _fixed(np.stack([P[n][:, :2] for n in torso_names], axis=1))
    torso_depth = np.mean([P[n][:, 2] for n in torso_names], axis=0) - 0.02

    def draw_torso(img: np.ndarray, t: int) -> None:
        cv2.fillPoly(img, [torso_poly[t]], app.shirt, cv2.LINE_AA, SHIFT)

    parts.append(_Part(torso_depth, draw_torso))
    if "object_weight" in joints:
        parts.append(_object_part(app, cam, P, joints["object_weight"]))
    capsule("neck_base", "head_pivot", 0.04, 0.036, _shade(app.skin, 0.88), -0.01)
    parts.append(_Part(P["head_center"][:, 2], _head_drawer(app, cam, P, joints["head_up"])))
    return parts


def _object_part(app: Appearance, cam: Camera, P: dict[str, np.ndarray], weight: np.ndarray) -> _Part:
    """The held object: a dark rounded slab, drawn just in front of the fingers while held."""
    outline = _fixed(
        _capsule(P["object_a"][:, :2], P["object_b"][:, :2], 0.026 * cam.scale, 0.026 * cam.scale)
    )
    colour = _shade(app.shoes, 0.6)

    def draw(img: np.ndarray, t: int) -> None:
        if weight[t] > 0.5:
            cv2.fillConvexPoly(img, outline[t], colour, cv2.LINE_AA, SHIFT)

    return _Part(0.5 * (P["object_a"][:, 2] + P["object_b"][:, 2]) + 0.13, draw)


def _head_drawer(app: Appearance, cam: Camera, P: dict[str, np.ndarray], head_up: np.ndarray):
    """The head: hair cap, face ellipse, ears, eyes, nose and mouth, all following the head pose."""
    s = cam.scale
    hr = app.head_r
    centre = P["head_center"]
    up = cam.project(head_up) - cam.project(np.zeros(3))  # image direction of the head's up axis
    angle = np.degrees(np.arctan2(up[:, 0], -up[:, 1]))  # head roll as seen in the image
    forward_depth = P["nose"][:, 2] - centre[:, 2]  # > 0 when the face is towards the camera
    hair_shift = -(P["nose"][:, :2] - centre[:, :2]) * 0.25
    face_shift = (P["nose"][:, :2] - centre[:, :2]) * 0.12
    c_face = _fixed(centre[:, :2] + face_shift)
    c_hair = _fixed(centre[:, :2] + hair_shift + np.array([0.0, -0.02 * s]))
    ax_face = (int(0.84 * hr * s * _FIX), int(1.02 * hr * s * _FIX))
    ax_hair = (int(0.9 * hr * s * _FIX), int(1.0 * hr * s * _FIX))
    eye_r = max(1, int(0.011 * s * _FIX))
    eyes = {n: _fixed(P[n][:, :2]) for n in ("left_eye", "right_eye")}
    eye_vis = {n: (P[n][:, 2] - centre[:, 2]) > 0.02 for n in eyes}
    ears = {n: _fixed(P[n][:, :2]) for n in ("left_ear", "right_ear")}
    ear_ax = (int(0.02 * s * _FIX), int(0.03 * s * _FIX))
    bridge = _fixed(0.5 * (P["left_eye_inner"][:, :2] + P["right_eye_inner"][:, :2]))
    nose = _fixed(P["nose"][:, :2])
    mouth = (_fixed(P["mouth_left"][:, :2]), _fixed(P["mouth_right"][:, :2]))
    nose_colour = _shade(app.skin, 0.75)
    lip = (150, 60, 60)
    face_visible = forward_depth > -0.03

    def draw(img: np.ndarray, t: int) -> None:
        for n in ears:
            cv2.ellipse(
                img,
                tuple(ears[n][t]),
                ear_ax,
                angle[t],
                0,
                360,
                _shade(app.skin, 0.9),
                -1,
                cv2.LINE_AA,
                SHIFT,
            )
        cv2.ellipse(img, tuple(c_hair[t]), ax_hair, angle[t], 0, 360, app.hair, -1, cv2.LINE_AA, SHIFT)
        cv2.ellipse(img, tuple(c_face[t]), ax_face, angle[t], 0, 360, app.skin, -1, cv2.LINE_AA, SHIFT)
        if not face_visible[t]:
            return
        for n in eyes:
            if eye_vis[n][t]:
                cv2.circle(img, tuple(eyes[n][t]), eye_r, (30, 25, 25), -1, cv2.LINE_AA, SHIFT)
        cv2.line(img, tuple(bridge[t]), tuple(nose[t]), nose_colour, 1, cv2.LINE_AA, SHIFT)
        cv2.circle(img, tuple(nose[t]), eye_r, nose_colour, -1, cv2.LINE_AA, SHIFT)
        cv2.line(img, tuple(mouth[0][t]), tuple(mouth[1][t]), lip, 1, cv2.LINE_AA, SHIFT)

    return draw


def draw_frame(background: np.ndarray, parts: list[_Part], t: int) -> np.ndarray:
    """Render frame ``t``: background copy, then parts from far to near (painter's algorithm)."""
    img = background.copy()
    for index in np.argsort([p.depth[t] for p in parts], kind="stable"):
        parts[index].draw(img, t)
    return img


def render_background(app: Appearance, cam: Camera, size: int, rng: np.random.Generator) -> np.ndarray:
    """Static scene: textured wall, floor and the chair the figure sits on (RGB uint8)."""
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = app.wall
    low = rng.normal(0, 9, size=(5, 5, 3)).astype(np.float32)
    img += cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    floor_v = cam.project(np.array([0.0, app.floor_y, -0.6]))[1]
    r0 = int(np.clip(np.ceil(floor_v), 0, size))
    shade = 1.0 + 0.15 * np.arange(size - r0, dtype=np.float32)[:, None, None] / size
    img[r0:] = np.asarray(app.floor, dtype=np.float32) * shade + img[r0:] - np.asarray(app.wall, np.float32)
    grain = cv2.GaussianBlur(rng.normal(0, 4, size=(size, size, 3)).astype(np.float32), (0, 0), 0.8)
    img = np.clip(img + grain, 0, 255).astype(np.uint8)
    _draw_chair(img, app, cam)
    return img


def _draw_chair(img: np.ndarray, app: Appearance, cam: Camera) -> None:
    def poly(points, colour) -> None:
        uv = cam.project(np.asarray(points, dtype=np.float64))[:, :2]
        cv2.fillPoly(img, [_fixed(uv)], colour, cv2.LINE_AA, SHIFT)

    w, back_z, front_z, top = 0.25, -0.2, 0.3, -0.08
    dark = _shade(app.chair, 0.7)
    for x in (-w + 0.02, w - 0.02):
        for z in (back_z + 0.02, front_z - 0.02):
            a = cam.project(np.array([x, top, z]))[:2]
            b = cam.project(np.array([x, app.floor_y, z]))[:2]
            cv2.line(
                img,
                tuple(_fixed(a)),
                tuple(_fixed(b)),
                dark,
                max(1, int(0.025 * cam.scale)),
                cv2.LINE_AA,
                SHIFT,
            )
    poly(
        [
            [-w + 0.02, top, back_z],
            [w - 0.02, top, back_z],
            [w - 0.02, 0.6, back_z - 0.04],
            [-w + 0.02, 0.6, back_z - 0.04],
        ],
        dark,
    )
    poly([[-w, top, back_z], [w, top, back_z], [w, top, front_z], [-w, top, front_z]], app.chair)
    poly([[-w, top, front_z], [w, top, front_z], [w, top - 0.05, front_z], [-w, top - 0.05, front_z]], dark)


class CameraNoise:
    """Sensor noise and brightness flicker, deterministic from its generator.

    Fresh Gaussian noise for every pixel of every frame is the main rendering cost, so a
    small bank of noise fields is drawn once and a random one is picked per frame (with
    a random roll), which is statistically indistinguishable at these levels.
    """

    def __init__(
        self, size: int, n_frames: int, fps: float, sigma: float, rng: np.random.Generator, bank: int = 12
    ) -> None:
        bank = bank if sigma > 0 else 1
        self.bank = np.round(rng.normal(0.0, sigma, size=(bank, size, size, 3))).astype(np.int16)
        self.choice = rng.integers(0, bank, size=n_frames)
        self.roll = rng.integers(0, size, size=(n_frames, 2))
        t = np.arange(n_frames) / fps
        flicker = _drift(rng, t, 1.0, 0.5, 3.0) + rng.normal(0.0, 0.4, size=n_frames)
        self.flicker = np.round(flicker * (sigma > 0)).astype(np.int16)

    def apply(self, img: np.ndarray, t: int) -> np.ndarray:
        noise = np.roll(self.bank[self.choice[t]], tuple(self.roll[t]), axis=(0, 1))
        out = img.astype(np.int16) + noise + self.flicker[t]
        return np.clip(out, 0, 255).astype(np.uint8)


def figure_height(landmarks: np.ndarray) -> float:
    """The figure's height as the motion bounds measure it: vertical extent of the 33
    landmarks in one frame (normalised image units, so relative to the frame height)."""
    y = landmarks[..., 1]
    return float(y.max() - y.min())
