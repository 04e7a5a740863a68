"""Command line for the synthetic datasets.

Untrimmed MMA-52 detection videos (the original form, unchanged)::

    python -m perception.synthetic --root data/synthetic_mma --train 240 --val 40 --test 60

Trimmed MA-52 recognition clips::

    python -m perception.synthetic ma52 --root data/synthetic_ma52 --num-train 1300 --num-val 260 --num-test 390

``python -m perception.synthetic [ma52] --help`` lists every option.
"""

from __future__ import annotations

import argparse
import sys
import time

from perception.synthetic import ma52
from perception.synthetic.generator import SyntheticConfig, generate, is_complete
from perception.synthetic.motions import DEFAULT_CLASSES


def _classes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class indices, got {text!r}") from None


_CLASSES_HELP = f"enabled class indices, comma-separated (default: all {len(DEFAULT_CLASSES)})"


def build_parser() -> argparse.ArgumentParser:
    defaults = SyntheticConfig()
    p = argparse.ArgumentParser(
        prog="python -m perception.synthetic",
        description="Generate synthetic MMA-52 (untrimmed detection videos). "
        "For trimmed MA-52 recognition clips: python -m perception.synthetic ma52 --help.",
    )
    p.add_argument("--root", default=str(defaults.root), help="output folder (default: %(default)s)")
    p.add_argument("--train", type=int, default=defaults.num_train, help="training videos")
    p.add_argument("--val", type=int, default=defaults.num_val, help="validation videos")
    p.add_argument("--test", type=int, default=defaults.num_test, help="test videos")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--classes", type=_classes, default=DEFAULT_CLASSES, help=_CLASSES_HELP)
    p.add_argument("--size", type=int, default=defaults.size, help="square frame size in pixels")
    p.add_argument("--fps", type=float, default=defaults.fps)
    p.add_argument("--amplitude", type=float, default=defaults.amplitude, help="motion amplitude scale")
    p.add_argument("--noise", type=float, default=defaults.noise, help="camera noise std (8-bit levels)")
    p.add_argument("--balance", type=float, default=defaults.balance, help="0 real imbalance .. 1 uniform")
    p.add_argument("--workers", type=int, default=defaults.workers, help="parallel processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def make_config(args: argparse.Namespace) -> SyntheticConfig:
    """The generator config for parsed arguments; raises ValueError on invalid values."""
    return SyntheticConfig(
        root=args.root,
        num_train=args.train,
        num_val=args.val,
        num_test=args.test,
        seed=args.seed,
        classes=args.classes,
        size=args.size,
        fps=args.fps,
        amplitude=args.amplitude,
        noise=args.noise,
        balance=args.balance,
        workers=args.workers,
    )


def build_ma52_parser() -> argparse.ArgumentParser:
    d = ma52.SyntheticMA52Config()
    p = argparse.ArgumentParser(
        prog="python -m perception.synthetic ma52",
        description="Generate synthetic MA-52: trimmed one-action clips in the MA-52 list layout.",
    )
    p.add_argument("--root", default=str(d.root), help="output folder (default: %(default)s)")
    p.add_argument("--num-train", type=int, default=d.num_train, help="training clips (default: %(default)s)")
    p.add_argument("--num-val", type=int, default=d.num_val, help="validation clips (default: %(default)s)")
    p.add_argument("--num-test", type=int, default=d.num_test, help="test clips (default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--classes", type=_classes, default=None, help=_CLASSES_HELP)
    p.add_argument("--size", type=int, default=d.size, help="square frame size (default: %(default)s)")
    p.add_argument("--fps", type=float, default=d.fps)
    p.add_argument("--min-clip-s", type=float, default=d.min_clip_s, help="shortest clip in seconds")
    p.add_argument("--max-clip-s", type=float, default=d.max_clip_s, help="longest clip in seconds")
    p.add_argument("--amplitude", type=float, default=d.amplitude, help="motion amplitude scale")
    p.add_argument("--noise", type=float, default=d.noise, help="camera noise std (8-bit levels)")
    p.add_argument("--clips-per-subject", type=int, default=d.clips_per_subject)
    p.add_argument("--balance", type=float, default=d.balance, help="0 real imbalance .. 1 uniform")
    p.add_argument(
        "--min-per-class", type=int, default=d.min_per_class, help="clips of every class in every split"
    )
    p.add_argument("--workers", type=int, default=d.workers, help="parallel processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def make_ma52_config(args: argparse.Namespace) -> ma52.SyntheticMA52Config:
    """The MA-52 config for parsed arguments; raises ValueError on invalid values."""
    return ma52.SyntheticMA52Config(
        root=args.root,
        num_train=args.num_train,
        num_val=args.num_val,
        num_test=args.num_test,
        seed=args.seed,
        classes=args.classes,
        size=args.size,
        fps=args.fps,
        min_clip_s=args.min_clip_s,
        max_clip_s=args.max_clip_s,
        amplitude=args.amplitude,
        noise=args.noise,
        clips_per_subject=args.clips_per_subject,
        balance=args.balance,
        min_per_class=args.min_per_class,
        workers=args.workers,
    )


def _run(what: str, config, complete: bool, write, quiet: bool) -> None:
    start = time.perf_counter()
    root = write(config, progress=not quiet)
    if complete:
        print(f"{what} already up to date in {root} (config {config.config_hash()})")
    else:
        seconds = time.perf_counter() - start
        print(f"wrote {what} to {root} in {seconds:.1f} s (config {config.config_hash()})")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ma52"]:
        parser = build_ma52_parser()
        args = parser.parse_args(argv[1:])
        try:
            config = make_ma52_config(args)
        except ValueError as error:
            parser.error(str(error))
        _run("synthetic MA-52", config, ma52.is_complete(config), ma52.generate_ma52, args.quiet)
        return
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = make_config(args)
    except ValueError as error:
        parser.error(str(error))
    _run("synthetic MMA-52", config, is_complete(config), generate, args.quiet)


if __name__ == "__main__":
    main()
