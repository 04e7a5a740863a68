"""Parameter-efficient adapters inserted after the blocks of a frozen video backbone.

All share one interface: built as ``Adapter(dim, **options)`` (Hydra passes a partial and the
backbone completes it with its width) and called as ``adapter(tokens, grid)`` with the
:class:`TokenGrid` that says how the tokens are laid out.
"""

from perception.adapters.common import TokenGrid
from perception.adapters.dsta import DSTAdapter
from perception.adapters.plain import PlainAdapter
from perception.adapters.tia import TIAdapter

__all__ = ["DSTAdapter", "PlainAdapter", "TIAdapter", "TokenGrid"]
