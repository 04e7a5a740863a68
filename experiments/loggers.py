"""Experiment loggers. ``NullLogger`` does nothing, so training code never branches on
whether logging is on; ``WandbLogger`` writes a Weights & Biases run, offline by default so
a run needs neither network nor account (sync later with ``wandb sync``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class NullLogger:
    """Accepts every call and records nothing."""

    def __init__(self, **_: Any) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.finish()

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        pass

    def log_image(self, key: str, path: str | Path) -> None:
        pass

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        pass

    def summary(self, values: dict[str, Any]) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbLogger(NullLogger):
    """One W&B run per job; ended on exit, so jobs of a Hydra multirun never merge."""

    def __init__(
        self,
        project: str = "microactions",
        mode: str = "offline",
        run_config: dict[str, Any] | None = None,
        run_dir: str | Path | None = None,
        name: str | None = None,
        group: str | None = None,
        tags: list[str] | None = None,
        **_: Any,
    ) -> None:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        self._wandb = wandb
        self.run = wandb.init(
            project=project,
            mode=mode,
            config=run_config,
            dir=str(run_dir) if run_dir else None,
            name=name,
            group=group,
            tags=list(tags or []),
            reinit="finish_previous",
        )

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.run.log(metrics, step=step)

    def log_image(self, key: str, path: str | Path) -> None:
        self.run.log({key: self._wandb.Image(str(path))})

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.run.log({key: self._wandb.Table(columns=columns, data=rows)})

    def summary(self, values: dict[str, Any]) -> None:
        self.run.summary.update(values)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
