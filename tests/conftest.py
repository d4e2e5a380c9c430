"""Shared fixtures: the MNIST folder, and output folders kept out of the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataloaders import MNISTError, find_data_dir


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The MNIST folder, by the usual order (MNIST_DIR, data/, download); fail if there is none.

    Tests that need the real data must run, never skip: a missing data set is an error to fix.
    """
    try:
        return find_data_dir()
    except MNISTError as exc:
        problem = str(exc)
    pytest.fail(f"these tests need MNIST: {problem}", pytrace=False)


@pytest.fixture
def output_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(figures, results) folders under tmp_path, honoured by utils through the environment."""
    figures, results = tmp_path / "figures", tmp_path / "results"
    monkeypatch.setenv("FIGURES_DIR", str(figures))
    monkeypatch.setenv("RESULTS_DIR", str(results))
    return figures, results
