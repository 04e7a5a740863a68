"""Command line: ``python -m perception.synthetic --root data/synthetic_mma --train 240 ...``."""

from __future__ import annotations

import argparse
import time

from perception.synthetic.generator import SyntheticConfig, generate, is_complete
from perception.synthetic.motions import DEFAULT_CLASSES, SUPPORTED_CLASSES


def _classes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class indices, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    defaults = SyntheticConfig()
    p = argparse.ArgumentParser(
        prog="python -m perception.synthetic", description="Generate synthetic MMA-52."
    )
    p.add_argument("--root", default=str(defaults.root), help="output folder (default: %(default)s)")
    p.add_argument("--train", type=int, default=defaults.num_train, help="training videos")
    p.add_argument("--val", type=int, default=defaults.num_val, help="validation videos")
    p.add_argument("--test", type=int, default=defaults.num_test, help="test videos")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument(
        "--classes",
        type=_classes,
        default=DEFAULT_CLASSES,
        help=f"enabled class indices (default: {','.join(map(str, DEFAULT_CLASSES))}; "
        f"supported: {','.join(map(str, SUPPORTED_CLASSES))})",
    )
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


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = make_config(args)
    except ValueError as error:
        parser.error(str(error))
    existed = is_complete(config)
    start = time.perf_counter()
    root = generate(config, progress=not args.quiet)
    if existed:
        print(f"synthetic MMA-52 already up to date in {root} (config {config.config_hash()})")
    else:
        print(
            f"wrote synthetic MMA-52 to {root} in {time.perf_counter() - start:.1f} s (config {config.config_hash()})"
        )


if __name__ == "__main__":
    main()
