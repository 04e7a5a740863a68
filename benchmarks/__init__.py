"""Timing scripts (``python -m benchmarks.<name>``); results are recorded in BENCHMARKS.md."""
