"""Scoring detections: Detection-mAP (official MMA-52 and ActivityNet protocols), the
permuted-label control, DETAD-style error analysis, timeline exports and plots, and the
standalone evaluator (``python -m detection.evaluate``)."""
