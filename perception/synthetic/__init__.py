"""Synthetic MMA-52 and MA-52: the platform's embedded default data.

Real mp4 videos of a seated figure performing subtle micro-actions (all 52 classes), written
in exactly the layouts of the real benchmarks, so the same readers and training pipelines
run on them and on the real data: untrimmed videos with overlapping instances in the MMA-52
detection layout (``generator``), and trimmed one-action clips in the MA-52 recognition
layout (``ma52``). Timelines and class frequencies follow the real datasets' statistics.
"""

from perception.synthetic.generator import SyntheticConfig, generate
from perception.synthetic.ma52 import SyntheticMA52Config, generate_ma52
from perception.synthetic.motions import DEFAULT_CLASSES

__all__ = ["DEFAULT_CLASSES", "SyntheticConfig", "SyntheticMA52Config", "generate", "generate_ma52"]
