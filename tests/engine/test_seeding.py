"""engine/seeding.py: what a run pins besides the seed."""

from __future__ import annotations

import pytest
import torch

from engine import seeding
from engine.seeding import make_deterministic, refuse_flush_change

DENORMAL = 1e-39  # below float32's smallest normal number, 1.18e-38


@pytest.fixture
def keep_torch_settings():
    """Each test leaves PyTorch's process-wide settings as it found them."""
    deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    yield deterministic
    torch.set_flush_denormal(False)  # PyTorch's own default
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.set_num_threads(threads)


def test_denormals_are_flushed_to_zero_when_asked_and_kept_otherwise(keep_torch_settings):
    record = make_deterministic(keep_torch_settings, None, flush_denormal=True)
    if not record["flush_denormal"]:
        pytest.skip("this CPU cannot flush denormals (no SSE3)")
    assert torch.tensor([DENORMAL]).mul(1.0).item() == 0.0
    record = make_deterministic(keep_torch_settings, None, flush_denormal=False)
    assert record["flush_denormal"] is False
    assert torch.tensor([DENORMAL]).mul(1.0).item() == pytest.approx(DENORMAL, rel=1e-3)


def test_threads_are_pinned_and_a_bad_count_named(keep_torch_settings):
    assert make_deterministic(keep_torch_settings, 1)["threads"] == 1 == torch.get_num_threads()
    with pytest.raises(ValueError, match="threads must be >= 1"):
        make_deterministic(keep_torch_settings, 0)


def test_a_later_run_in_the_process_may_not_change_denormal_flushing(monkeypatch):
    monkeypatch.setattr(seeding, "_FLUSH_IN_PROCESS", [])
    refuse_flush_change(True)
    refuse_flush_change(True)  # the same setting again: a multirun's next job
    with pytest.raises(
        ValueError, match="flush_denormal=False in a process whose first run used flush_denormal=True"
    ):
        refuse_flush_change(False)
