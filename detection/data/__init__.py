"""MMA-52 data for the detector: annotation and submission files, the video dataset, per-cue
model inputs and clip augmentation."""
