"""Shared fixtures: the MNIST folder, output folders kept out of the repository, quick results."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

import report_helpers
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


# A test accuracy no quick run produces, planted in the quick results to prove a text reads them.
PLANTED_TEST_ACCURACY = 0.123456


@pytest.fixture(scope="session")
def planted_test_accuracy() -> float:
    """The test accuracy planted in the quick results (first run of task2.json)."""
    return PLANTED_TEST_ACCURACY


@pytest.fixture(scope="session")
def quick_results(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> tuple[Path, Path]:
    """(figures, results) folders of --quick runs of every task the report reads.

    The first run of task2.json has the test accuracy PLANTED_TEST_ACCURACY.
    """
    root = tmp_path_factory.mktemp("quick_results")
    figures, results = root / "figures", root / "results"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIGURES_DIR", str(figures))
        patch.setenv("RESULTS_DIR", str(results))
        for task in report_helpers.REPORT_TASKS:
            script, _, variant = task.partition("_")
            flags = [f"--{variant}"] if variant else []
            importlib.import_module(script).main(["--quick", "--data-dir", str(mnist_dir), *flags])
    path = results / "task2.json"
    data = json.loads(path.read_text())
    data["runs"][0]["test_accuracy"] = PLANTED_TEST_ACCURACY
    path.write_text(json.dumps(data))
    return figures, results
