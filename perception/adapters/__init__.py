"""Parameter-efficient adapters inserted after the blocks of a frozen video backbone."""

from perception.adapters.dsta import DSTAdapter, TokenGrid

__all__ = ["DSTAdapter", "TokenGrid"]
