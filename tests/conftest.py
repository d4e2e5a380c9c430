"""Shared fixtures (the MNIST folder, output folders kept out of the repository) and helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_files import MNISTError, find_data_dir


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
    """The (figures, results) folders a --quick run writes to: quick/ in folders under tmp_path.

    FIGURES_DIR and RESULTS_DIR point at the folders under tmp_path for the test.
    """
    figures, results = tmp_path / "figures", tmp_path / "results"
    monkeypatch.setenv("FIGURES_DIR", str(figures))
    monkeypatch.setenv("RESULTS_DIR", str(results))
    return figures / "quick", results / "quick"


def random_inputs(rng: np.random.Generator, n: int = 20) -> np.ndarray:
    """Pre-processed-like inputs [n, 785]: values in [-1, 1] and a bias column of ones."""
    return np.hstack([rng.uniform(-1, 1, (n, 784)), np.ones((n, 1))])


def random_one_hot(rng: np.random.Generator, n: int = 20) -> np.ndarray:
    """One-hot targets [n, 10] of random classes."""
    return np.eye(10)[rng.integers(0, 10, n)]
