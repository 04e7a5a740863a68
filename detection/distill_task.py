"""``task=distill``: an RGB-only student trained against a fused teacher, then tested.

    python experiments/run.py task=distill distill.teacher=outputs/teacher   # run dir or checkpoint.pt

The teacher is rebuilt from its checkpoint's stored config (``load_detector``) and frozen; its
cues (flow, skeletons) are extracted into the cue cache with the settings it was trained with,
so the student sees exactly the clips the teacher was trained on. The student is this run's
``model`` group with the cues of ``distill.student_cues`` (RGB); its checkpoint records this run's config, so ``task=predict``
rebuilds an RGB-only detector from it and needs neither flow nor MediaPipe. Test outputs are
those of ``task=mmad`` (``detection.pipeline.evaluate_and_report``), with the teacher's
checkpoint named in ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf, open_dict

from detection.pipeline import build_trainer, evaluate_and_report, fit, load_training_split
from detection.training.checkpoint import CheckpointMismatch, TrainedDetector, load_detector
from detection.training.distill import DistillStep
from engine import distributed
from engine.seeding import seed_everything
from perception.dataset_root import prepare_data
from perception.extract import build_caches


def teacher_checkpoint(teacher: str | None) -> Path:
    """``distill.teacher``: a checkpoint file, or a run directory holding ``checkpoint.pt``."""
    if not teacher:
        raise ValueError("task=distill needs a teacher: distill.teacher=<task=mmad run dir or checkpoint.pt>")
    path = Path(to_absolute_path(str(teacher)))
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"distill.teacher: no checkpoint at {path}")
    return path


def load_teacher(cfg: DictConfig, device: str) -> TrainedDetector:
    """The frozen teacher, refused when it read the videos at another frame stride."""
    trained = load_detector(teacher_checkpoint(cfg.distill.teacher), device)
    if trained.frame_stride != int(cfg.data.frame_stride):
        raise CheckpointMismatch(
            f"{trained.checkpoint}: the teacher was trained with data.frame_stride={trained.frame_stride}, "
            f"this run reads data.frame_stride={cfg.data.frame_stride}; set data.frame_stride={trained.frame_stride}"
        )
    return trained


def keep_student_cues(cfg: DictConfig) -> None:
    """Reduce ``cfg.cues`` to ``distill.student_cues`` in place, so the student is built, and
    its checkpoint's config records, with those cues only (``model.cues`` interpolates them)."""
    wanted = list(cfg.distill.student_cues)
    missing = [cue for cue in wanted if cue not in cfg.cues]
    if not wanted or missing:
        raise ValueError(
            f"distill.student_cues={wanted}: each must be a cue of the cues group ({list(cfg.cues)})"
        )
    with open_dict(cfg):
        cfg.cues = {cue: cfg.cues[cue] for cue in wanted}


def run_distill(cfg: DictConfig, run_dir: Path, logger: Any) -> dict[str, Any]:
    keep_student_cues(cfg)
    device = distributed.setup(cfg.trainer.device)
    try:
        return distill_and_evaluate(cfg, run_dir, logger, device)
    finally:
        distributed.teardown()


def distill_and_evaluate(cfg: DictConfig, run_dir: Path, logger: Any, device: str) -> dict[str, Any]:
    seed_everything(cfg.seed)
    run_dir = Path(distributed.broadcast_object(str(run_dir)))
    with distributed.main_process_first():
        root = prepare_data(cfg.data)
    trainer = build_trainer(cfg, device)
    teacher = load_teacher(cfg, device)
    student = instantiate(cfg.model)
    step = DistillStep(student, teacher.model, instantiate(cfg.distill.loss))
    # the teacher's cues, cached with its own extraction settings (under this run's cue_cache)
    teacher_caches = build_caches(
        OmegaConf.create({"cues": teacher.config["cues"], "cue_cache": cfg.cue_cache})
    )
    if distributed.is_main_process():
        print(
            f"distilling {'+'.join(teacher.model.cues)} teacher ({teacher.checkpoint}) into a "
            f"{'+'.join(student.cues)} student: {student.trainable_parameters():,} trainable parameters"
        )
    train_set = load_training_split(root, cfg.data, teacher.model, teacher_caches)
    train_seconds = fit(
        cfg,
        student,
        train_set,
        run_dir / "checkpoint.pt",
        trainer,
        cfg.seed,
        cfg.resume,
        logger,
        training_step=step,
    )
    teacher_path = str(teacher.checkpoint)
    del train_set, step, teacher  # free the teacher and the training clips before testing
    return evaluate_and_report(
        cfg,
        run_dir,
        logger,
        student,
        root,
        build_caches(cfg),
        trainer,
        train_seconds,
        extra={"teacher": teacher_path},
    )
