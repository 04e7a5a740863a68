"""``task=predict``: a trained detector on any video, streamed in windows, with timeline,
ELAN, per-frame and HTML report outputs."""
