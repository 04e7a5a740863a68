"""Experiment loggers. ``NullLogger`` does nothing, so training code never branches on
whether logging is on; ``WandbLogger`` writes a Weights & Biases run, offline by default so
a run needs neither network nor account (sync later with ``wandb sync``).

Every job of a Hydra multirun is its own W&B run; the runs of one sweep share a group named
after the sweep directory and carry one tag per config-group choice, so the W&B UI can
filter and group an ablation without anyone typing names by hand. The W&B Report helpers at the
end serve ``experiments/report.py --wandb-report``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# W&B rejects tags longer than this (wandb.sdk.wandb_settings.validate_run_tags).
MAX_TAG_LENGTH = 64
# Groups whose choice says nothing about the experiment (where logs go, how Hydra runs).
UNTAGGED_GROUPS = ("logger",)


def sweep_group_name(sweep_dir: str | Path) -> str:
    """The W&B group of a sweep: its directory's last two parts (``<task>/<timestamp>`` with the
    default ``hydra.sweep.dir``). The report command derives the same name from the same directory,
    so its summary run lands in the group of the jobs it summarises."""
    path = Path(sweep_dir).resolve()
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def choice_tags(choices: Mapping[str, Any], seed: Any = None) -> list[str]:
    """``group:option`` for every chosen config group (``cues:rgb_flow``, ``model:videomae_tiny``),
    plus ``seed:N``. Hydra's own groups (``hydra/launcher`` ...) and unchosen groups (null) are
    left out: they do not distinguish one experiment from another."""
    tags = []
    for group, option in choices.items():
        if option is None or group.startswith("hydra/") or group == "hydra" or group in UNTAGGED_GROUPS:
            continue
        tags.append(f"{group}:{option}")
    if seed is not None:
        tags.append(f"seed:{seed}")
    return [tag[:MAX_TAG_LENGTH] for tag in tags]


def run_identity(
    choices: Mapping[str, Any],
    *,
    seed: Any = None,
    multirun: bool = False,
    sweep_dir: str | Path | None = None,
    job_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Name, group and tags of a job's W&B run, from what Hydra knows about it. A pure function
    (no Hydra state) so the naming rules can be tested without launching Hydra.

    The name is where the job is found on disk, so the two never disagree: the job directory
    relative to the sweep (``3_cues=rgb_flow,seed=1``; relative, because an override holding a
    path puts slashes into Hydra's job subdirectory), or the run directory's name in a single run."""
    name = None
    if job_dir:
        name = Path(job_dir).name
        if multirun and sweep_dir and Path(job_dir).resolve().is_relative_to(Path(sweep_dir).resolve()):
            name = str(Path(job_dir).resolve().relative_to(Path(sweep_dir).resolve()))
    return {
        "name": name,
        "group": sweep_group_name(sweep_dir) if multirun and sweep_dir else None,
        "tags": choice_tags(choices, seed),
    }


def hydra_run_identity(run_config: Mapping[str, Any] | None, run_dir: str | Path | None) -> dict[str, Any]:
    """``run_identity`` for the running Hydra job; empty outside Hydra (tests, notebooks)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():
        return {}
    hydra_cfg = HydraConfig.get()
    choices = OmegaConf.to_container(hydra_cfg.runtime.choices, resolve=True)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    return run_identity(
        choices,
        seed=(run_config or {}).get("seed"),
        multirun=multirun,
        sweep_dir=hydra_cfg.sweep.dir if multirun else None,
        job_dir=run_dir or hydra_cfg.runtime.output_dir,
    )


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
    """One W&B run per job; ended on exit, so jobs of a Hydra multirun never merge.

    ``name`` and ``group`` left null are derived from Hydra (``hydra_run_identity``); ``tags``
    are added to the derived choice tags rather than replacing them, so a hand-set tag never
    loses the ones the ablation is filtered by."""

    def __init__(
        self,
        project: str = "microactions",
        mode: str = "offline",
        run_config: dict[str, Any] | None = None,
        run_dir: str | Path | None = None,
        name: str | None = None,
        group: str | None = None,
        tags: list[str] | None = None,
        job_type: str | None = None,
        **_: Any,
    ) -> None:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        identity = hydra_run_identity(run_config, run_dir)
        all_tags = list(dict.fromkeys([*identity.get("tags", []), *(tags or [])]))
        self._wandb = wandb
        self.run = wandb.init(
            project=project,
            mode=mode,
            config=run_config,
            dir=str(run_dir) if run_dir else None,
            name=name or identity.get("name"),
            group=group or identity.get("group"),
            tags=all_tags,
            job_type=job_type,
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


# W&B Reports (experiments/report.py --wandb-report): the one feature that needs a server and an account.


class ReportUnavailable(RuntimeError):
    """A W&B Report cannot be built here (no package, no credentials, no server)."""


def wandb_report_api() -> tuple[Any, Any]:
    """The Reports module and an authenticated API, checked before anything goes online."""
    try:
        import wandb_workspaces.reports.v2 as wr
    except ImportError as error:
        raise ReportUnavailable(
            "the wandb-workspaces package is missing (pip install wandb-workspaces)"
        ) from error
    import wandb

    try:
        return wr, wandb.Api(timeout=30)
    except Exception as error:  # no API key configured, or the server refuses it
        raise ReportUnavailable(f"{type(error).__name__}: {error}") from error


def build_wandb_report(wr: Any, api: Any, markdown: str, project: str, group: str) -> str:
    """A W&B Report: the markdown summary, then the sweep's runs (filtered by group) with the
    table the report run logged."""
    entity = os.environ.get("WANDB_ENTITY") or api.default_entity
    runs = wr.Runset(entity=entity, project=project, name=group, filters=f"Metric('Group') = '{group}'")
    grid = wr.PanelGrid(runsets=[runs], panels=[wr.WeavePanelSummaryTable(table_name="report")])
    blocks = [wr.MarkdownBlock(text=markdown), grid]
    report = wr.Report(project=project, entity=entity, title=f"Sweep {group}"[:128], blocks=blocks)
    try:
        report.save()
    except Exception as error:  # no server, a refused request: the report cannot be made here
        raise ReportUnavailable(f"{type(error).__name__}: {error}") from error
    return report.url
