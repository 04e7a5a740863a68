"""The detector: cue streams, fusion, temporal pyramid, head, losses, target assignment and
post-processing. Times inside the model are feature steps; seconds belong to ``data``."""
