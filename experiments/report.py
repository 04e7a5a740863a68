"""Summarise a Hydra sweep: one row per combination of overrides, mean ± std over seeds.

``python experiments/report.py SWEEP_DIR`` writes report.md, report.csv and report.png into the sweep
directory (or --out), prints the table, and logs it to an offline W&B run in the sweep's group
(job_type=report). Only --wandb-report (a W&B Report on a server) needs a network and an account.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from experiments.loggers import ReportUnavailable, build_wandb_report, sweep_group_name, wandb_report_api

MMAD_METRICS = ("action.avg", "body.avg", "avg", "action.per_tiou.0.5")
EMOTION_METRICS = ("accuracy", "macro_f1", "uar")
RECOGNITION_METRICS = ("action_top1", "f1_mean", "body_top1", "action_top5", "control.action_top1")
# Overrides that do not define a combination: seeds are what the statistics run over, and
# hydra.* / logger.* change where things are written, not what is measured.
IGNORED_KEYS = ("seed",)
IGNORED_ROOTS = ("hydra", "logger")
_MISSING = object()


class SweepError(ValueError):
    """A sweep directory that cannot be summarised (no job directories, no such metric)."""


def resolve_metric(tree: Any, path: str) -> Any:
    """``tree["action"]["per_tiou"]["0.5"]`` for ``action.per_tiou.0.5``. Keys may contain dots
    (tIoU thresholds), so at each level the longest run of segments that is a key wins, falling
    back to shorter runs when the rest of the path does not resolve under it."""

    def walk(node: Any, rest: list[str]) -> Any:
        if not rest:
            return node
        if not isinstance(node, Mapping):
            return _MISSING
        for cut in range(len(rest), 0, -1):
            key = ".".join(rest[:cut])
            found = walk(node[key], rest[cut:]) if key in node else _MISSING
            if found is not _MISSING:
                return found
        return _MISSING

    return walk(tree, path.split("."))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def metric_value(tree: Any, path: str) -> float:
    """The metric as a float, NaN when absent or not a number, so one odd job cannot break a mean."""
    value = resolve_metric(tree, path)
    return float(value) if _is_number(value) else math.nan


def default_metrics(metrics_json: Mapping[str, Any]) -> tuple[str, ...]:
    """Emotion runs report accuracy/macro-F1/UAR, recognition runs (task=recognition) top-1 and
    F1_mean first; everything else is read as MMAD."""
    if "accuracy" in metrics_json:
        return EMOTION_METRICS
    if "f1_mean" in metrics_json:  # the control's column only where it was trained (task.control)
        return RECOGNITION_METRICS if "control" in metrics_json else RECOGNITION_METRICS[:-1]
    return MMAD_METRICS


def _leaf_paths(tree: Any, prefix: str = "") -> list[str]:
    """Every numeric metric path in a metrics.json, to name the choices when --metrics is wrong."""
    if isinstance(tree, Mapping):
        return [path for key, value in tree.items() for path in _leaf_paths(value, f"{prefix}{key}.")]
    return [prefix[:-1]] if _is_number(tree) else []


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _is_ignored(override: str) -> bool:
    key = _override_key(override)
    return key in IGNORED_KEYS or re.split(r"[./]", key)[0] in IGNORED_ROOTS


def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def _job_order(job: str) -> tuple[int, str]:
    """Hydra's job subdirectories start with the job number: sort 2_ before 10_."""
    match = re.match(r"(\d+)_", job)
    return (int(match.group(1)) if match else sys.maxsize, job)


def _read_job(job_dir: Path, sweep_dir: Path) -> dict[str, Any]:
    overrides = [str(o) for o in _read_yaml(job_dir / ".hydra" / "overrides.yaml") or []]
    seeds = [o.split("=", 1)[1] for o in overrides if _override_key(o) == "seed" and "=" in o]
    seed = seeds[-1] if seeds else (_read_yaml(job_dir / ".hydra" / "config.yaml") or {}).get("seed")
    job = str(job_dir.relative_to(sweep_dir)) if job_dir != sweep_dir else job_dir.name
    kept = [o for o in overrides if not _is_ignored(o)]
    row = dict(job=job, overrides=kept, seed=seed, status="failed", metrics=None)
    if not (job_dir / "metrics.json").is_file():
        return {**row, "error": "no metrics.json"}
    try:
        metrics = json.loads((job_dir / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        return {**row, "error": f"unreadable metrics.json: {error}"}
    return {**row, "status": "ok", "error": "", "metrics": metrics}


def collect_runs(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per job directory (any folder below the sweep with ``.hydra/overrides.yaml``, found
    recursively because an override holding a path puts slashes into Hydra's job subdirectory).
    A job without ``metrics.json`` is kept as ``failed`` rather than dropped, so the report says
    how much of the sweep it stands on. ``combination`` is the job's overrides minus seed,
    hydra.* and logger.*, and minus those every job shares (listed in ``attrs["common"]``)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SweepError(f"sweep directory not found: {sweep_dir}")
    job_dirs = [p.parent.parent for p in sweep_dir.rglob("overrides.yaml") if p.parent.name == ".hydra"]
    if not job_dirs:
        raise SweepError(
            f"no job directories in {sweep_dir}: expected <job>/.hydra/overrides.yaml below it, as "
            "`python experiments/run.py -m ...` writes under multirun/<task>/<timestamp>/"
        )
    rows = sorted((_read_job(d, sweep_dir) for d in job_dirs), key=lambda r: _job_order(r["job"]))
    common = [o for o in rows[0]["overrides"] if all(o in r["overrides"] for r in rows)]
    anything_varies = any(o not in common for r in rows for o in r["overrides"])
    for row in rows:
        varying = [o for o in row["overrides"] if o not in common] if anything_varies else common
        row["combination"] = " ".join(varying) or "(defaults)"
        row["params_trainable"] = metric_value(row.get("metrics"), "params.trainable")
        row["train_seconds"] = metric_value(row.get("metrics"), "train_seconds")
    frame = pd.DataFrame(rows)
    frame.attrs.update(sweep_dir=str(sweep_dir.resolve()), common=common, first_job=rows[0]["job"])
    return frame


def summarize(frame: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and sample std (ddof=1; NaN with one seed, where it is undefined) per combination, in
    sweep order; ``best`` marks the highest mean of the first metric."""
    finished = frame[frame["status"] == "ok"]
    if finished.empty:
        raise SweepError(f"all {len(frame)} jobs failed (no metrics.json): nothing to summarise")
    for metric in metrics:
        if all(math.isnan(metric_value(m, metric)) for m in finished["metrics"]):
            available = ", ".join(_leaf_paths(finished["metrics"].iloc[0]))
            raise SweepError(f"metric {metric!r} is in no metrics.json; available: {available}")
    failed = frame.loc[frame["status"] != "ok", "combination"].value_counts()
    rows = []
    for combination, group in finished.groupby("combination", sort=False):
        row: dict[str, Any] = {"combination": combination, "n_seeds": len(group)}
        row.update(n_failed=int(failed.get(combination, 0)), seeds=" ".join(str(s) for s in group["seed"]))
        for metric in metrics:
            values = pd.Series([metric_value(m, metric) for m in group["metrics"]], dtype=float)
            row[f"{metric}_mean"] = values.mean()
            row[f"{metric}_std"] = values.std(ddof=1) if values.count() > 1 else math.nan
        row["params_trainable"] = group["params_trainable"].median()
        row["train_seconds_mean"] = group["train_seconds"].mean()
        rows.append(row)
    summary = pd.DataFrame(rows)
    first = summary[f"{metrics[0]}_mean"]
    has_winner = len(summary) > 1 and first.notna().any()  # a lone combination beats nobody
    summary.insert(1, "best", summary.index == first.idxmax() if has_winner else False)
    summary.attrs.update(frame.attrs)
    return summary


def _decimals(summary: pd.DataFrame, metric: str) -> int:
    """Two decimals for percentages, three for fractions (accuracy 0.831)."""
    largest = summary[f"{metric}_mean"].abs().max()
    return 2 if not math.isnan(largest) and largest >= 1 else 3


def _mean_std(row: pd.Series, metric: str, decimals: int) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    if math.isnan(mean):
        return ""
    return f"{mean:.{decimals}f}" + ("" if math.isnan(std) else f" ± {std:.{decimals}f}")


def human_count(n: float) -> str:
    if math.isnan(n):
        return ""
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K" if n >= 1e3 else f"{int(n)}"


def human_duration(seconds: float) -> str:
    if math.isnan(seconds):
        return ""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def winner_sentence(summary: pd.DataFrame, metric: str) -> str:
    """Who won on the first metric, by how much, and whether that margin is larger than the
    seed-to-seed spread: a margin below the larger of the two stds is no evidence of a difference."""
    ranked = summary.dropna(subset=[f"{metric}_mean"]).sort_values(f"{metric}_mean", ascending=False)
    digits = _decimals(summary, metric)
    if len(ranked) < 2:
        return f"Only one combination has {metric}, so there is nothing to compare."
    best, second = ranked.iloc[0], ranked.iloc[1]
    margin = best[f"{metric}_mean"] - second[f"{metric}_mean"]
    stds = [s for s in (best[f"{metric}_std"], second[f"{metric}_std"]) if not math.isnan(s)]
    if not stds:
        verdict = (
            "with one seed per combination the seed noise is unknown, so this margin shows no difference"
        )
    elif margin < max(stds):
        verdict = (
            f"the difference is within seed noise (smaller than the std over seeds, {max(stds):.{digits}f})"
        )
    else:
        verdict = f"the margin is larger than the std over seeds ({max(stds):.{digits}f})"
    return (
        f"`{best['combination']}` has the highest {metric} ({_mean_std(best, metric, digits)}), "
        f"{margin:.{digits}f} above the runner-up `{second['combination']}` "
        f"({_mean_std(second, metric, digits)}); {verdict}."
    )


def baseline_lines(summary: pd.DataFrame, metric: str, baseline: str) -> list[str]:
    """How much each combination gains or loses on ``metric`` against the ``baseline`` one (say the
    RGB-only features): the answer to "which cue helps, by how much", with the same seed-noise
    test as the winner sentence."""
    rows = summary[summary["combination"] == baseline]
    if rows.empty:
        known = ", ".join(f"`{c}`" for c in summary["combination"])
        raise SweepError(f"--baseline {baseline!r} is not a combination of this sweep; it has {known}")
    base, digits = rows.iloc[0], _decimals(summary, metric)
    lines = [f"**Against `{baseline}`** ({metric} {_mean_std(base, metric, digits)}):", ""]
    for _, row in summary.iterrows():
        if row["combination"] == baseline or math.isnan(row[f"{metric}_mean"]):
            continue
        difference = row[f"{metric}_mean"] - base[f"{metric}_mean"]
        stds = [s for s in (row[f"{metric}_std"], base[f"{metric}_std"]) if not math.isnan(s)]
        noise = " (within seed noise)" if stds and abs(difference) < max(stds) else ""
        if not stds:
            noise = " (one seed: noise unknown)"
        lines.append(f"- `{row['combination']}`: {difference:+.{digits}f}{noise}")
    return lines


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def markdown_table(summary: pd.DataFrame, metrics: Sequence[str]) -> str:
    header = ["combination", *metrics, "seeds", "trainable params", "train time"]
    lines = [_markdown_row(header), "|---" + "|---:" * (len(header) - 1) + "|"]
    digits = {m: _decimals(summary, m) for m in metrics}
    for _, row in summary.iterrows():
        seeds = f"{row['n_seeds']}" + (f" ({row['n_failed']} failed)" if row["n_failed"] else "")
        cells = [row["combination"] + (" (best)" if row["best"] else "")]
        cells += [*(_mean_std(row, m, digits[m]) for m in metrics), seeds]
        cells += [human_count(row["params_trainable"]), human_duration(row["train_seconds_mean"])]
        lines.append(_markdown_row([f"**{c}**" if c and row["best"] else c for c in cells]))
    return "\n".join(lines)


def write_markdown(
    frame: pd.DataFrame,
    summary: pd.DataFrame,
    metrics: Sequence[str],
    path: Path,
    baseline: str | None = None,
) -> str:
    """report.md: what the table stands on (sweep, jobs, failures) comes with it, so a reader
    never takes a mean over two surviving seeds for one over five. With ``baseline`` every
    combination's difference to that one follows the winner sentence."""
    failed = frame[frame["status"] != "ok"]
    lines = [
        "# Sweep report",
        "",
        f"- sweep: `{frame.attrs.get('sweep_dir', '')}`",
        f"- jobs: {len(frame)} ({len(frame) - len(failed)} finished, {len(failed)} failed)",
        "- values: mean ± sample std (ddof=1) over seeds; no std where a combination has one seed",
    ]
    if frame.attrs.get("common"):
        lines.append("- shared by every job: " + " ".join(f"`{o}`" for o in frame.attrs["common"]))
    lines += ["", markdown_table(summary, metrics), "", f"**Winner:** {winner_sentence(summary, metrics[0])}"]
    if baseline is not None:
        lines += ["", *baseline_lines(summary, metrics[0], baseline)]
    if not failed.empty:
        lines += ["", "## Failed jobs", "", "| job | combination | seed | reason |", "|---|---|---|---|"]
        for _, row in failed.iterrows():
            lines.append(_markdown_row([f"`{row['job']}`", row["combination"], row["seed"], row["error"]]))
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def plot(summary: pd.DataFrame, metrics: Sequence[str], path: Path, title: str = "") -> Path:
    """Grouped bars, one group per combination and one bar per metric, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    positions, width = np.arange(len(summary)), 0.8 / len(metrics)
    figsize = (max(6.0, 3.0 + len(summary) * (0.6 + 0.35 * len(metrics))), 4.5)  # room for the legend
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    for i, metric in enumerate(metrics):
        offset = (i - (len(metrics) - 1) / 2) * width
        means, errors = (summary[f"{metric}_{stat}"].fillna(0.0).to_numpy() for stat in ("mean", "std"))
        ax.bar(positions + offset, means, width, yerr=errors, capsize=3, label=metric)
    labels = [f"{c} (best)" if b else c for c, b in zip(summary["combination"], summary["best"], strict=True)]
    crowded = sum(len(label) for label in labels) > 8 * figsize[0]  # labels would touch: slant them
    ax.set_xticks(positions, labels, rotation=20 if crowded else 0, ha="right" if crowded else "center")
    ax.set(ylabel="mean ± std over seeds", title=title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # never over a bar
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def log_to_wandb(summary: pd.DataFrame, out: Path, project: str, group: str, png: Path, mode: str) -> Path:
    """A W&B run (job_type=report) in the sweep's group holding the table and the chart."""
    import wandb

    config = {"sweep_dir": summary.attrs.get("sweep_dir", "")}
    run = wandb.init(
        project=project, group=group, job_type="report", name="report", dir=str(out), mode=mode, config=config
    )
    table = wandb.Table(dataframe=summary.astype(object).where(summary.notna(), None))  # null, not NaN
    run.log({"report": table, "report_chart": wandb.Image(str(png))})
    run.summary["winner"] = ", ".join(summary.loc[summary["best"], "combination"])
    run_dir = Path(run.dir).parent
    run.finish()
    return run_dir


def _wandb_outputs(args: argparse.Namespace, summary: pd.DataFrame, markdown: str, png: Path) -> int:
    """The W&B run (offline unless WANDB_MODE says otherwise) and, when asked and possible, the
    Report; the local files exist already, so a missing server costs a message, not the report."""
    job_dir = Path(summary.attrs["sweep_dir"]) / summary.attrs["first_job"]
    logger_cfg = (_read_yaml(job_dir / ".hydra" / "config.yaml") or {}).get("logger") or {}  # join the jobs
    group = args.group or logger_cfg.get("group") or sweep_group_name(args.sweep_dir)
    project = args.project or logger_cfg.get("project") or "microactions"
    wr, api, mode, local = None, None, os.environ["WANDB_MODE"], (args.out or args.sweep_dir) / "report.md"
    if args.wandb_report:
        try:
            wr, api = wandb_report_api()
            mode = "online"  # the Report shows this run's table, so the run must be on the server
        except ReportUnavailable as error:
            message = f"--wandb-report needs `wandb login` and a reachable W&B server ({error})"
            print(
                f"error: {message}; no W&B Report was made. The local report was written: {local}",
                file=sys.stderr,
            )
    if (args.wandb or api) and mode != "disabled":
        try:
            run_dir = log_to_wandb(summary, args.out or args.sweep_dir, project, group, png, mode)
        except Exception as error:  # W&B's own failure must not read as a failed report
            print(
                f"error: W&B run failed ({error!r}); the local report was written: {local}", file=sys.stderr
            )
            return 1
        print(f"W&B run ({mode}, project {project}, group {group}, job_type report): {run_dir}")
    if api:
        try:
            print(f"W&B Report: {build_wandb_report(wr, api, markdown, project, group)}")
        except ReportUnavailable as error:
            print(
                f"error: W&B Report failed ({error}). The local report was written: {local}", file=sys.stderr
            )
            return 1
    return 1 if args.wandb_report and not api else 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    add = parser.add_argument
    add("sweep_dir", type=Path, help="a multirun sweep directory: multirun/<task>/<timestamp>")
    add(
        "--metrics",
        help=f"comma-separated metric paths in metrics.json, the first ranks (default: "
        f"{','.join(MMAD_METRICS)}; {','.join(EMOTION_METRICS)} when metrics.json has accuracy)",
    )
    add(
        "--baseline",
        help="a combination (as in the table, e.g. features=rgb) to state every other one against",
    )
    add("--out", type=Path, help="folder for report.md/.csv/.png (default: the sweep directory)")
    add("--wandb", action=argparse.BooleanOptionalAction, default=True, help="log the table to a W&B run")
    add("--wandb-report", action="store_true", help="also build a W&B Report (needs `wandb login`, a server)")
    add("--project", help="W&B project (default: the jobs' logger.project, else microactions)")
    add("--group", help="W&B group (default: the jobs' logger.group, else <task>/<timestamp>)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
    try:
        frame = collect_runs(args.sweep_dir)
        finished = frame.loc[frame["status"] == "ok", "metrics"]
        metrics = default_metrics(finished.iloc[0]) if not finished.empty else MMAD_METRICS
        if args.metrics:
            metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
        summary = summarize(frame, metrics)
        if args.baseline is not None:
            baseline_lines(summary, metrics[0], args.baseline)  # an unknown baseline fails before writing
    except SweepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out or args.sweep_dir
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "report.csv", index=False)
    png = plot(summary, metrics, out / "report.png", title=sweep_group_name(args.sweep_dir))
    markdown = write_markdown(frame, summary, metrics, out / "report.md", args.baseline)
    print(markdown)
    print(f"written: {out / 'report.md'}, {out / 'report.csv'}, {png}")
    return _wandb_outputs(args, summary, markdown, png) if args.wandb or args.wandb_report else 0


if __name__ == "__main__":
    sys.exit(main())
