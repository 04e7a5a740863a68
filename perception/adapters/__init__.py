"""Parameter-efficient adapters inserted after the blocks of a frozen video backbone.

All share one interface: built as ``Adapter(dim, **options)`` (Hydra passes a partial and the
backbone completes it with its width) and called as ``adapter(tokens, grid)`` with the
:class:`TokenGrid` that says how the tokens are laid out. All are initialised as AdaTAD's code
initialises TIA (:func:`perception.adapters.common.init_adatad_`), and DSTA and TIA share one
``pointwise`` choice (AdaTAD's 1x1 conv after each depthwise conv, on by default).

Trainable backbone parameters on VideoMAE-S (12 blocks of width 384, bottleneck ratio 0.25),
against the MMAD paper, whose "M" is 2**20 (checked by tests/perception/test_adapters.py):

=========  ==========  =======  =====  =================================================
adapter    exact       ours M   paper  why they differ
=========  ==========  =======  =====  =================================================
plain         890,496    0.849   0.85  --
tia         1,006,860    0.960   0.96  --
dsta        1,572,516    1.500   1.80  no reading of the equations gives 1.80: without the
                                       1x1 convs 1.287 (1.278 with the literal 1x1 spatial
                                       kernel); 1.80 is about two TIA-sized adapters
full       21,879,168   20.866  20.89  the paper counts VideoMAE-S's fc_norm and a 52-class
                                       classifier too (+20,788)
frozen              0    0          --  nothing in the backbone trains
=========  ==========  =======  =====  =================================================
"""

from perception.adapters.common import TokenGrid
from perception.adapters.dsta import DSTAdapter
from perception.adapters.plain import PlainAdapter
from perception.adapters.tia import TIAdapter

__all__ = ["DSTAdapter", "PlainAdapter", "TIAdapter", "TokenGrid"]
