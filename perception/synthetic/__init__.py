"""Synthetic MMA-52: the platform's embedded default data.

Real mp4 videos of a seated figure performing subtle micro-actions, with CSVs in exactly
the MMA-52 layout, so the same reader and training pipeline run on it and on the real
benchmark. Timelines follow the real dataset's statistics; see ``generator`` for the layout.
"""

from perception.synthetic.generator import SyntheticConfig, generate
from perception.synthetic.motions import DEFAULT_CLASSES

__all__ = ["DEFAULT_CLASSES", "SyntheticConfig", "generate"]
