"""Training utilities shared by every model family of the platform (the detector, the
recognition networks): processes and ranks, atomic checkpoints, seeding, numeric precision,
schedules and epoch orders. Nothing here knows what a micro-action or a detector is."""
