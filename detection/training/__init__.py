"""Training the detector: the epoch loop (``loop.py``), one optimisation step (``step.py``),
exact resuming (``resume.py``), and the one builder that rebuilds a detector from a checkpoint
(``checkpoint.py``). Shared, model-agnostic utilities are in :mod:`engine`."""

from detection.training.loop import TrainerConfig, train

__all__ = ["TrainerConfig", "train"]
