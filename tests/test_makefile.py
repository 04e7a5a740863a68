"""The Makefile's set-up step: its low-disk warning, which must come before pip starts.

The install itself is not run: ``PYTHON=false`` makes the recipe stop at creating the virtual
environment, right after the disk check, so nothing is downloaded or written but the check."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _install_step(tmp_path, need_gb: int) -> subprocess.CompletedProcess:
    venv = tmp_path / "venv"
    return subprocess.run(
        [
            "make",
            "-C",
            str(REPO_ROOT),
            f"VENV={venv}",
            "PYTHON=false",
            f"NEED_GB={need_gb}",
            f"{venv}/.installed",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_disk_with_less_free_space_than_the_install_needs_is_named_before_installing(tmp_path):
    result = _install_step(tmp_path, need_gb=10**9)  # more than any disk has
    assert result.returncode != 0  # PYTHON=false: the venv step fails, as meant
    assert "warning:" in result.stderr and "needs about 1000000000 GB" in result.stderr
    assert "false -m venv" in result.stdout  # a warning only: the install still goes on
    assert not (tmp_path / "venv" / ".installed").exists()


def test_enough_free_space_gives_no_warning(tmp_path):
    result = _install_step(tmp_path, need_gb=0)
    assert result.returncode != 0
    assert "warning:" not in result.stderr
    assert "false -m venv" in result.stdout  # the recipe went on to the install step
