"""MA-52 micro-action recognition of trimmed clips: list files, clip sampling, MANet and the
dual-path body-entity network, the official metrics and the challenge submission files.

Phase 1 holds the parts that do not depend on the shared training utilities (the Hydra
``task=recognition`` pipeline, resume, DDP and logging come once those leave ``detection/``).
"""
