"""Shared fixtures (the MNIST folder, output folders kept out of the repository, quick runs and
results, full runs) and helpers."""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reporting import make_report, report_helpers
from support import outputs
from support.mnist_files import MNISTError, find_data_dir


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


# A test accuracy no quick run produces, planted in the quick results to prove a text reads them.
PLANTED_TEST_ACCURACY = 0.123456


@pytest.fixture(scope="session")
def planted_test_accuracy() -> float:
    """The test accuracy planted in the quick results (first run of task2.json)."""
    return PLANTED_TEST_ACCURACY


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> tuple[Path, Path]:
    """(figures, results) folders of --quick runs of every task the report reads, made once.

    The runs write into quick/ inside FIGURES_DIR and RESULTS_DIR, the folders returned. Tests
    only read them: a test that changes them works on a copy.
    """
    root = tmp_path_factory.mktemp("quick_runs")
    figures, results = root / "figures" / "quick", root / "results" / "quick"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIGURES_DIR", str(figures.parent))
        patch.setenv("RESULTS_DIR", str(results.parent))
        for task in report_helpers.REPORT_TASKS:
            script, *flags = outputs.task_arguments(task)
            module = importlib.import_module(script.removesuffix(".py"))
            module.main(["--quick", "--data-dir", str(mnist_dir), *flags])
    return figures, results


@pytest.fixture(scope="session")
def quick_results(
    tmp_path_factory: pytest.TempPathFactory, quick_runs: tuple[Path, Path]
) -> tuple[Path, Path]:
    """(figures, results): a copy of quick_runs whose first run of task2.json has the test
    accuracy PLANTED_TEST_ACCURACY, in quick/ folders as there."""
    root = tmp_path_factory.mktemp("quick_results")
    figures, results = root / "figures" / "quick", root / "results" / "quick"
    shutil.copytree(quick_runs[0], figures)
    shutil.copytree(quick_runs[1], results)
    path = results / "task2.json"
    data = read_json(path)
    data["runs"][0]["test_accuracy"] = PLANTED_TEST_ACCURACY
    path.write_text(json.dumps(data), encoding="utf-8")
    return figures, results


def read_json(path: Path) -> Any:
    """The JSON file at `path`, read as UTF-8."""
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def full_results(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> tuple[Path, Path]:
    """(figures, results) folders of the full runs of every task the report reads, as `make
    figures` makes them (about 2½ minutes on two cores): the model answer's own evidence."""
    root = tmp_path_factory.mktemp("full_results")
    figures, results = root / "figures", root / "results"
    env = {
        **os.environ,
        "MNIST_DIR": str(mnist_dir),
        "FIGURES_DIR": str(figures),
        "RESULTS_DIR": str(results),
    }
    tasks = [task for task in make_report.LONGEST_FIRST if task in report_helpers.REPORT_TASKS]
    failed = make_report.run_tasks(tasks, make_report.available_cores(), env=env)
    assert not failed, f"{failed} failed"
    return figures, results
