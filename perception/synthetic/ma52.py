"""Synthetic MA-52: trimmed micro-action clips in the real MA-52 recognition layout.

The embedded default of ``task=recognition``: every clip shows exactly one instance of one
class (mostly filling the clip, with a little idle before and after) on its subject's
figure, with the idle life and camera noise of the MMA-52 videos, rendered by the same code
(``render.py``). Layout under ``root`` (the real release's, then synthetic extras)::

    train_list_videos.txt          "<file>.mp4 <action_idx>" per line
    val_list_videos.txt
    test_list_videos.txt           labels hidden as 0, as in the real release
    {train,val,test}/<file>.mp4    H.264 yuv420p, 1-4 s, named <subject>_<session>_<clip>.mp4
    test_labels.txt                the hidden test labels, same line format (synthetic only)
    <split>/<file>.landmarks.npy   (T, 33, 4) float32 ground-truth landmarks, MediaPipe Pose layout
    subjects.csv                   file,subject_id,split (splits are subject-disjoint)
    manifest.json                  config, versions, config hash -- written last

Class frequencies follow the real training list (``ma52_stats.json``, written by
``scripts/derive_ma52_stats.py``), flattened by ``balance`` (0 = real imbalance, 1 = uniform),
with at least ``min_per_class`` clips of every enabled class in every split (the real set has
classes with 6-9 training clips). Counts per split are exact, not sampled. Clip lengths come
from the real MMA-52 per-class instance durations, clipped to [``min_clip_s``, ``max_clip_s``].

Determinism: a clip's randomness comes from ``SeedSequence([seed, 52, split, index])`` and
its subject's look from the subject's own stream, so the same config gives identical lists,
landmarks and decoded frames for any number of workers.

Command line (``python -m perception.synthetic ma52 --help`` lists every option)::

    python -m perception.synthetic ma52 --root data/synthetic_ma52 --num-train 1300 \\
        --num-val 260 --num-test 390 --size 112 --workers 2
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from perception.synthetic import render
from perception.synthetic.generator import GENERATOR_VERSION
from perception.synthetic.motions import DEFAULT_CLASSES, MOTIONS, check_classes
from perception.synthetic.render import ClipStreams, RenderSettings
from perception.synthetic.stats import STATS_PATH, load_stats
from perception.synthetic.timeline import Instance, Timeline
from perception.taxonomy import NUM_ACTIONS

MA52_VERSION = "1.0"  # bump whenever output for the same config changes
MA52_STATS_PATH = Path(__file__).with_name("ma52_stats.json")
SPLITS = ("train", "val", "test")
LIST_NAME = "{split}_list_videos.txt"
TEST_LABELS = "test_labels.txt"
SUBJECTS_HEADER = ("file", "subject_id", "split")
PAD_S = (0.1, 0.3)  # idle before and after the action, each side
_MA52_KEY = 52  # the MA-52 writer's own region of the SeedSequence space
_SPLIT_KEY = {"train": 1, "val": 2, "test": 3}
_OWN_FILE = re.compile(r"^\d{4}_\d{2}_\d{4}\.(mp4|landmarks\.npy)$")
_NOT_HASHED = ("root", "workers")


@dataclass(frozen=True)
class MA52Stats:
    """Aggregates of the real MA-52 training list."""

    class_counts: np.ndarray  # (52,) training clips per class
    clips_per_session: int  # median clips of one subject in one recording session


@lru_cache(maxsize=2)
def load_ma52_stats(path: str | None = None) -> MA52Stats:
    raw = json.loads(Path(path or MA52_STATS_PATH).read_text(encoding="utf-8"))
    levels = list(raw["quantile_levels"])
    median = raw["clips_per_session_quantiles"][levels.index(0.5)]
    return MA52Stats(np.asarray(raw["class_counts"], dtype=np.float64), max(1, round(median)))


@dataclass(frozen=True)
class SyntheticMA52Config:
    """Everything that determines a synthetic MA-52 set (``root``/``workers`` only say where/how)."""

    root: str | Path = "data/synthetic_ma52"
    # Defaults: ~60 s to generate on 2 idle cores (2.7 s mean clip, 0.73 ms of CPU per frame at
    # 112 px, measured), ~330 MB, and enough clips for a tiny CPU model to learn 52 classes.
    num_train: int = 1300
    num_val: int = 260
    num_test: int = 390
    seed: int = 0
    classes: tuple[int, ...] | None = None  # None = all 52
    size: int = 112  # square frames
    fps: float = 30.0
    min_clip_s: float = 1.0
    max_clip_s: float = 4.0
    amplitude: float = 1.0  # scales every class motion (bounds in motions/__init__.py)
    noise: float = 2.0  # camera noise std, 8-bit levels
    idle: float = 1.0  # scales class-independent sway, breathing and fidgeting
    clips_per_subject: int = 25  # subjects never cross splits
    balance: float = 0.0  # 0 = real class imbalance, 1 = uniform over enabled classes
    min_per_class: int = 2  # clips of every enabled class in every non-empty split
    crf: int = 17  # x264 quality; low enough that 1-2 px motions survive compression
    # ultrafast: half the encode time of the MMA-52 videos' veryfast at the same fidelity to the
    # render (measured at 112 px, crf 17: 38.7 vs 37.8 dB PSNR), for files ~3x larger (~115 KB/clip)
    preset: str = "ultrafast"
    workers: int = 2

    def __post_init__(self) -> None:
        classes = DEFAULT_CLASSES if self.classes is None else self.classes
        object.__setattr__(self, "classes", check_classes(classes))
        if self.size < 32 or self.size % 2:
            raise ValueError(f"size must be an even number >= 32 (yuv420p), got {self.size}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not 0 < self.min_clip_s <= self.max_clip_s:
            raise ValueError("need 0 < min_clip_s <= max_clip_s")
        if self.min_clip_s < 2 * PAD_S[1] + 0.2:
            raise ValueError(
                f"min_clip_s must leave room for the action: at least {2 * PAD_S[1] + 0.2:.1f} s"
            )
        if min(self.num_train, self.num_val, self.num_test) < 0:
            raise ValueError("clip counts must be >= 0")
        if self.clips_per_subject < 1 or self.min_per_class < 0:
            raise ValueError("clips_per_subject must be >= 1 and min_per_class >= 0")
        if not 0.0 <= self.balance <= 1.0:
            raise ValueError("balance must be in [0, 1]")
        subjects = sum(math.ceil(self.count(s) / self.clips_per_subject) for s in SPLITS)
        sessions = math.ceil(self.clips_per_subject / load_ma52_stats().clips_per_session)
        if subjects > 9999 or sessions > 99:  # the name fields are 4 and 2 digits wide
            raise ValueError(
                f"{subjects} subjects with {sessions} sessions each do not fit <subject:4>_<session:2>_<clip:4> "
                "names; change clips_per_subject"
            )
        for split in SPLITS:
            n, need = self.count(split), self.min_per_class * len(self.classes)
            if 0 < n < need:
                raise ValueError(
                    f"num_{split}={n} cannot hold min_per_class={self.min_per_class} clips of each of "
                    f"{len(self.classes)} classes ({need} clips); raise num_{split} or lower min_per_class"
                )

    def count(self, split: str) -> int:
        return {"train": self.num_train, "val": self.num_val, "test": self.num_test}[split]

    def settings(self) -> RenderSettings:
        # 4 noise fields instead of the MMA-52 videos' 12: drawing them was a fifth of the cost
        # of a 2.5 s clip, and with a random roll per frame 4 still never repeat visibly.
        return RenderSettings(self.size, self.fps, self.amplitude, self.noise, self.idle, noise_bank=4)

    def hashed_fields(self) -> dict:
        """The fields that define the content, JSON-ready (for the manifest and its hash)."""
        data = asdict(self)
        for key in _NOT_HASHED:
            data.pop(key)
        data["classes"] = list(self.classes)
        return data

    def config_hash(self) -> str:
        """Hash of the content-defining fields, both versions and both statistics files."""
        payload = {
            "config": self.hashed_fields(),
            "version": MA52_VERSION,
            "renderer": GENERATOR_VERSION,
            "stats": [hashlib.sha256(p.read_bytes()).hexdigest() for p in (MA52_STATS_PATH, STATS_PATH)],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ClipPlan:
    """One clip to render: identity, file name, subject, label and its one-instance timeline."""

    split: str
    index: int
    name: str  # file stem, <subject>_<session>_<clip>
    subject: int
    label: int
    timeline: Timeline

    @property
    def file(self) -> str:
        return f"{self.name}.mp4"


def split_class_counts(n: int, config: SyntheticMA52Config) -> dict[int, int]:
    """Exact clips per class in a split of ``n`` clips.

    Every class gets ``max(min_per_class, lam * p_c)`` with ``p_c`` the real frequency raised
    to ``1 - balance`` and ``lam`` chosen so the shares add up to ``n``; the fractions are then
    rounded by largest remainder (ties to the lower class index), so the total is exact.
    """
    classes = config.classes
    if n == 0:
        return {c: 0 for c in classes}
    counts = load_ma52_stats().class_counts[list(classes)]
    weights = np.maximum(counts, 1.0) ** (1.0 - config.balance)
    p = weights / weights.sum()
    low, high = 0.0, float(n) / p.min()
    for _ in range(200):  # bisection on lam: sum(max(min, lam * p)) is increasing in lam
        lam = 0.5 * (low + high)
        if np.maximum(config.min_per_class, lam * p).sum() > n:
            high = lam
        else:
            low = lam
    share = np.maximum(config.min_per_class, low * p)
    whole = np.floor(share + 1e-9).astype(int)
    order = sorted(range(len(classes)), key=lambda i: (-(share[i] - whole[i]), i))
    for i in order[: n - int(whole.sum())]:
        whole[i] += 1
    return {c: int(k) for c, k in zip(classes, whole, strict=True)}


def _clip_seeds(config: SyntheticMA52Config, split: str, index: int) -> list[np.random.SeedSequence]:
    """Independent streams for (clip timing and side, motion jitter, idle life, camera noise)."""
    return np.random.SeedSequence([config.seed, _MA52_KEY, _SPLIT_KEY[split], index]).spawn(4)


def clip_timeline(config: SyntheticMA52Config, label: int, rng: np.random.Generator) -> Timeline:
    """One instance of ``label`` with a little idle before and after, the whole clip 1-4 s.

    The action's length is drawn from the real per-class durations (MMA-52 statistics); a
    short action is stretched so the clip still reaches ``min_clip_s``, a long one cut so it
    ends by ``max_clip_s``.
    """
    fps = config.fps
    before, after = (round(rng.uniform(*PAD_S) * fps) for _ in range(2))
    lo = math.ceil(config.min_clip_s * fps - 1e-9)
    hi = math.floor(config.max_clip_s * fps + 1e-9)
    length = round(load_stats().sample_duration(label, rng) * fps)
    total = int(np.clip(before + length + after, lo, hi))
    spec = MOTIONS[label]
    side = int(rng.integers(2)) if spec.sided else 0
    return Timeline(total, float(fps), (Instance(label, before, total - after, side),))


def plan(config: SyntheticMA52Config) -> list[ClipPlan]:
    """Every clip's name, subject, label and timeline without rendering (cheap; tests use it).

    Labels are shuffled within a split, then dealt to subjects ``clips_per_subject`` at a time;
    subjects are numbered consecutively across splits, so none is in two splits.
    """
    stats = load_ma52_stats()
    clips: list[ClipPlan] = []
    next_subject = 0
    for split in SPLITS:
        n = config.count(split)
        labels = [c for c, k in split_class_counts(n, config).items() for _ in range(k)]
        order = np.random.default_rng(np.random.SeedSequence([config.seed, _MA52_KEY, _SPLIT_KEY[split]]))
        labels = [labels[i] for i in order.permutation(n)]
        for index, label in enumerate(labels):
            subject = next_subject + index // config.clips_per_subject
            position = index % config.clips_per_subject
            session, clip = divmod(position, stats.clips_per_session)
            name = f"{subject + 1:04d}_{session + 1:02d}_{clip + 1:04d}"
            rng = np.random.default_rng(_clip_seeds(config, split, index)[0])
            clips.append(ClipPlan(split, index, name, subject, label, clip_timeline(config, label, rng)))
        next_subject += math.ceil(n / config.clips_per_subject)
    return clips


def render_clip(config: SyntheticMA52Config, clip: ClipPlan):
    """Lazily rendered frames and the (T, 33, 4) landmarks of one clip."""
    seeds = _clip_seeds(config, clip.split, clip.index)
    scene = render.subject_scene(config.seed, clip.subject, config.size)
    streams = ClipStreams(motion=seeds[1], idle=seeds[2], noise=seeds[3])
    return render.render(scene, clip.timeline, config.settings(), streams)


def _make_clip(job: tuple[SyntheticMA52Config, ClipPlan]) -> str:
    """Render, encode and store one clip and its landmarks."""
    config, clip = job
    frames, landmarks = render_clip(config, clip)
    render.write_clip(
        Path(config.root) / clip.split,
        clip.name,
        frames,
        landmarks,
        config.settings(),
        config.crf,
        config.preset,
    )
    return clip.name


def is_complete(config: SyntheticMA52Config) -> bool:
    """True when ``root`` holds a finished set made from exactly this config."""
    return render.manifest_hash(Path(config.root)) == config.config_hash()


def _list_files(root: Path) -> list[Path]:
    return [root / LIST_NAME.format(split=s) for s in SPLITS] + [root / TEST_LABELS]


def generate_ma52(config: SyntheticMA52Config, progress: bool = True) -> Path:
    """Write the set described by ``config`` under ``config.root`` and return the root.

    Returns at once when the manifest there already matches this config. Otherwise the old
    manifest and lists go first (an interrupted run leaves neither, so nothing half-made
    looks usable), every clip is written atomically, and the lists and manifest come last.
    """
    root = Path(config.root)
    if is_complete(config):
        return root
    render.start_folder(root, SPLITS)
    for path in _list_files(root):
        path.unlink(missing_ok=True)
    clips = plan(config)
    render.run_jobs(
        _make_clip, [(config, c) for c in clips], config.workers, "synthetic MA-52", "clip", progress, 4
    )
    render.remove_stale(root, SPLITS, _OWN_FILE, {c.name for c in clips})

    for split in SPLITS:
        mine = [c for c in clips if c.split == split]
        shown = [0] * len(mine) if split == "test" else [c.label for c in mine]  # hidden, as released
        render.write_lines(
            root / LIST_NAME.format(split=split), [f"{c.file} {y}" for c, y in zip(mine, shown, strict=True)]
        )
    render.write_lines(root / TEST_LABELS, [f"{c.file} {c.label}" for c in clips if c.split == "test"])
    render.write_csv(
        root / "subjects.csv", SUBJECTS_HEADER, [(c.file, f"{c.subject + 1:04d}", c.split) for c in clips]
    )
    render.write_manifest(
        root,
        {
            "generator": "perception.synthetic.ma52",
            "version": MA52_VERSION,
            "renderer": GENERATOR_VERSION,
            "config_hash": config.config_hash(),
            "config": config.hashed_fields(),
            "clips": {s: config.count(s) for s in SPLITS},
            "subjects": {s: len({c.subject for c in clips if c.split == s}) for s in SPLITS},
            "class_counts": {
                s: [sum(c.label == k for c in clips if c.split == s) for k in range(NUM_ACTIONS)]
                for s in SPLITS
            },
        },
    )
    return root
