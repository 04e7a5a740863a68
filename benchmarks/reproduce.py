"""``make reproduce``: rerun the README's headline runs from scratch and compare every figure.

    python -m benchmarks.reproduce                    # headline runs, seeds 0 1 2 (about an hour on 2 cores)
    python -m benchmarks.reproduce --runs mmad_demo --seeds 0   # one run, one seed
    python -m benchmarks.reproduce --sweeps           # also the README's ablation sweeps (hours)
    python -m benchmarks.reproduce --record           # write the results as the new expected figures

What is rerun, with which overrides and which metrics, and the figures the README shows, live
in ``docs/reproduce/headline.json``; the README's tables are copied from it (a test checks they
agree). Every run goes through ``experiments/run.py`` in a fresh process, on a fresh data folder
(``--workdir``, default ``outputs/reproduce/<time>``): the synthetic datasets are generated
again, the cue caches and every other cache start empty, so nothing of an earlier run is reused.

For each run and metric it prints the README's figure, this machine's, and the difference,
per seed and as mean ± sample std over the seeds; the exit status is 1 when a per-seed figure
differs by more than ``--tolerance`` (default 0: runs are deterministic, see
``engine/seeding.py``), 2 when a run fails. A summary goes to ``<workdir>/reproduce.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from perception.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "docs" / "reproduce" / "headline.json"


def lookup(metrics: dict[str, Any], dotted: str) -> float:
    """A metric by its dotted path in metrics.json (``action.avg``, ``accuracy``). Keys may hold
    dots themselves (``action.per_tiou.0.5``: the tIoU ``"0.5"``), so the longest key that
    matches at each level wins."""
    node: Any = metrics
    parts = dotted.split(".")
    while parts:
        for width in range(len(parts), 0, -1):
            key = ".".join(parts[:width])
            if isinstance(node, dict) and key in node:
                node, parts = node[key], parts[width:]
                break
        else:
            raise KeyError(f"metrics.json has no {dotted!r}")
    return float(node)


def summary(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def run_once(run: dict[str, Any], seed: int, workdir: Path, threads: int | None) -> tuple[dict, float]:
    """One headline run in a fresh process; returns its metrics.json and wall seconds."""
    name = f"{run['name']}_seed{seed}"
    fresh = {key: str(workdir / value) for key, value in run.get("paths", {}).items()}
    overrides = list(run["overrides"]) + [f"{k}={v}" for k, v in fresh.items()]
    overrides += [f"seed={seed}", "logger=none", f"hydra.run.dir={workdir / 'runs' / name}"]
    if threads is not None:
        overrides.append(f"threads={threads}")
    started = time.perf_counter()
    log = workdir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle:
        done = subprocess.run(
            [sys.executable, "experiments/run.py", *overrides],
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {done.returncode}); see {log}")
    return json.loads((workdir / "runs" / name / "metrics.json").read_text()), seconds


def git_commit() -> str:
    """The checked-out commit (``-dirty`` when the tree has changes): what the figures came from."""
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=REPO, capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def run_cpu(workdir: Path, name: str, seed: int) -> str | None:
    """The CPU model a run wrote into its environment.json (None when it wrote none)."""
    path = workdir / "runs" / f"{name}_seed{seed}" / "environment.json"
    return json.loads(path.read_text()).get("cpu") if path.exists() else None


def compare(
    run: dict[str, Any], results: dict[int, dict], tolerance: float, cpu: str | None = None
) -> tuple[list[str], bool]:
    """Printable lines comparing this machine's figures with the README's, and whether all agree.

    Float kernels differ between CPU models, so a per-seed figure recorded on one model need not
    repeat on another; when ``cpu`` differs from the recording's, the first line says so and
    the means ± std are what to compare."""
    lines, agree = [], True
    expected = run.get("expected", {})
    recorded_cpu = expected.get("recorded_on", {}).get("cpu")
    if cpu and recorded_cpu and cpu != recorded_cpu:
        lines.append(
            f"  note: recorded on {recorded_cpu!r}, run here on {cpu!r}: per-seed figures need not"
            " repeat; compare the means within the seed spread"
        )
    for metric in run["metrics"]:
        ours = {seed: lookup(m, metric) for seed, m in results.items()}
        theirs = {int(s): v for s, v in expected.get("seeds", {}).get(metric, {}).items()}
        for seed, value in ours.items():
            if seed in theirs:
                diff = value - theirs[seed]
                agree &= abs(diff) <= tolerance
                lines.append(
                    f"  {metric:<32} seed {seed}: README {theirs[seed]:8.3f}  here {value:8.3f}  diff {diff:+.3f}"
                )
            else:
                lines.append(f"  {metric:<32} seed {seed}: README    —      here {value:8.3f}")
        mean, std = summary(list(ours.values()))
        spread = f" ± {std:.3f}" if std is not None else " (one seed)"
        if len(theirs) > 1:
            their_mean, their_std = summary(list(theirs.values()))
            lines.append(
                f"  {metric:<32} mean: README {their_mean:.3f} ± {their_std:.3f}  here {mean:.3f}{spread}"
            )
        else:
            lines.append(f"  {metric:<32} mean here {mean:.3f}{spread}")
    return lines, agree


def record(
    spec: dict[str, Any],
    name: str,
    results: dict[int, dict],
    seconds: dict[int, float],
    cpu: str | None = None,
    commit: str | None = None,
) -> None:
    """Store this machine's figures as the run's expected ones (``--record``), with the CPU model
    and commit they came from: a later mismatch can then be told from a CPU change."""
    run = next(r for r in spec["runs"] if r["name"] == name)
    seeds = {m: {str(s): lookup(r, m) for s, r in results.items()} for m in run["metrics"]}
    stats = {m: dict(zip(("mean", "std"), summary(list(v.values())), strict=True)) for m, v in seeds.items()}
    run["expected"] = {
        "seeds": seeds,
        "summary": stats,
        "seconds": {str(s): round(t) for s, t in seconds.items()},
        "recorded_on": {"cpu": cpu, "commit": commit},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reproduce", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--runs", nargs="*", help="names from docs/reproduce/headline.json (default: all headline runs)"
    )
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--sweeps", action="store_true", help="also the runs marked as sweeps (hours)")
    parser.add_argument("--workdir", type=Path, help="fresh folder for data, caches and runs")
    parser.add_argument(
        "--tolerance", type=float, default=0.0, help="largest per-seed difference that agrees"
    )
    parser.add_argument(
        "--threads", type=int, help="override the runs' pinned thread count (changes results)"
    )
    parser.add_argument(
        "--record", action="store_true", help="write the results into the spec as expected figures"
    )
    parser.add_argument("--spec", type=Path, default=SPEC, help="the runs and expected figures (JSON)")
    args = parser.parse_args(argv)

    spec = json.loads(args.spec.read_text())
    known = {r["name"]: r for r in spec["runs"]}
    unknown = [n for n in args.runs or [] if n not in known]
    if unknown:
        parser.error(f"unknown run(s) {unknown}; known: {sorted(known)}")
    chosen = (
        [known[n] for n in args.runs]
        if args.runs
        else [r for r in spec["runs"] if args.sweeps or not r.get("sweep")]
    )
    workdir = (
        args.workdir or REPO / "outputs" / "reproduce" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    ).resolve()
    if workdir.exists() and any(workdir.iterdir()):
        parser.error(f"{workdir} is not empty: reproduce needs a fresh folder (no data, no caches)")
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"reproducing {len(chosen)} run(s) x {len(args.seeds)} seed(s) in {workdir}", flush=True)

    report, all_agree = {}, True
    for run in chosen:
        results, seconds = {}, {}
        for seed in args.seeds:
            print(f"{run['name']} seed {seed} ...", flush=True)
            try:
                results[seed], seconds[seed] = run_once(run, seed, workdir, args.threads)
            except RuntimeError as error:
                print(f"FAILED {error}", flush=True)
                return 2
        cpu = run_cpu(workdir, run["name"], args.seeds[0])
        lines, agree = compare(run, results, args.tolerance, cpu)
        all_agree &= agree
        print(f"{run['name']} ({', '.join(f'{s:.0f} s' for s in seconds.values())}):")
        print("\n".join(lines), flush=True)
        report[run["name"]] = {
            "metrics": {s: m for s, m in results.items()},
            "seconds": seconds,
            "agree": agree,
        }
        if args.record:
            record(spec, run["name"], results, seconds, cpu, git_commit())
    atomic_write_text(workdir / "reproduce.json", json.dumps(report, indent=2, default=str))
    if args.record:
        # atomic: an interrupted --record leaves the previous spec whole, not a truncated one
        atomic_write_text(args.spec, json.dumps(spec, indent=2) + "\n")
        print(f"recorded as the expected figures in {args.spec}")
    print(
        "every figure agrees with the README"
        if all_agree
        else "SOME FIGURES DIFFER from the README (see above)"
    )
    return 0 if all_agree or args.record else 1


if __name__ == "__main__":
    raise SystemExit(main())
