"""The task scripts end to end on --quick runs: figures, results, determinism, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import task2
import task3
import task4
from support.outputs import REPO

RUN_KEYS = {
    "name",
    "learning_rate",
    "batch_size",
    "epochs",
    "shuffle",
    "early_stopping_patience",
    "seed",
    "steps",
    "stopped_at_step",
    "stopped_at_epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "seconds",
    "history",
    "best_step",
}
TASKS = {
    "task2": (
        task2,
        ["no_shuffle", "early_stopping", "shuffle"],
        ["task2b_curves", "task2e_shuffle"],
    ),
    "task3": (
        task3,
        ["early_stopping", "no_early_stopping"],
        ["task3b_curves", "task3d_overfitting"],
    ),
    "task4": (
        task4,
        ["lambda_0", "lambda_0.002", "lambda_0.02", "lambda_0.2", "lambda_2"],
        ["task4b_weights", "task4c_val_accuracy", "task4e_l2_norm"],
    ),
}


def run_quick(task: str, mnist_dir: Path, *extra: str) -> dict:
    module = TASKS[task][0]
    module.main(["--quick", "--data-dir", str(mnist_dir), *extra])
    path = Path(os.environ["RESULTS_DIR"]) / "quick" / f"{task}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def read_quick_run(task: str, quick_runs: tuple[Path, Path]) -> dict:
    """The results of the task's --quick run among the quick runs made for the session."""
    return json.loads((quick_runs[1] / f"{task}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("task", TASKS)
def test_quick_run_writes_figures_and_results(task: str, quick_runs: tuple[Path, Path]) -> None:
    figures, _ = quick_runs
    _, names, figure_names = TASKS[task]
    results = read_quick_run(task, quick_runs)
    assert [run["name"] for run in results["runs"]] == names
    for run in results["runs"]:
        assert run.keys() >= RUN_KEYS
        assert run["epochs"] == 3 and run["steps"] > 0
        history = run["history"]
        assert len(history["batch_loss"]) == run["steps"]  # one per update
        # Five validation points per epoch, as in the full runs: 10 steps per epoch on --quick.
        assert history["step"][:3] == [1, 3, 5]
        assert history["epoch"][:3] == [0.1, 0.3, 0.5]
        assert 0 <= run["test_accuracy"] <= 1 and run["test_loss"] > 0
        if task != "task2":
            assert "l2_lambda" in run
        if task == "task4":
            assert run["weight_norm"] > 0 and len(run["template_correlation"]) == 10
    if task == "task4":  # the weights at one more step: lambda = 0 early, lambda = 2 at its end
        plain, strongest = results["runs"][0], results["runs"][-1]
        steps = [strongest["best_step"], strongest["steps"]]
        assert [entry["step"] for entry in plain["weights_at"]] == steps
        assert [entry["step"] for entry in strongest["weights_at"]] == steps[1:]
        assert len(plain["weights_at"][0]["template_correlation"]) == 10
    for name in figure_names:
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(figures.glob(".*")) and not list(figures.parent.glob("*.png"))


def test_task4_weight_norm_falls_as_lambda_grows(quick_runs: tuple[Path, Path]) -> None:
    runs = read_quick_run("task4", quick_runs)["runs"]
    norms = [run["weight_norm"] for run in runs]
    assert norms == sorted(norms, reverse=True)


def test_template_correlations_compare_each_digits_weights_with_its_mean_image() -> None:
    """Weights equal to a digit's template correlate by 1, their negative by -1; a digit
    without images, or weights that are all equal, have no correlation."""
    rng = np.random.default_rng(0)
    images = np.hstack([rng.random((6, task4.IMAGE_PIXELS)), np.ones((6, 1))])  # bias input
    targets = np.eye(3)[[0, 0, 1, 1, 1, 0]]  # no image of digit 2
    templates = [images[targets[:, k] == 1, :-1].mean(axis=0) - images[:, :-1].mean(axis=0)
                 for k in range(2)]  # fmt: skip
    weights = np.zeros((task4.IMAGE_PIXELS + 1, 3))
    weights[:-1, 0], weights[:-1, 1] = 3 * templates[0], -templates[1]
    weights[-1] = 5.0  # the bias weights play no part
    correlations = task4.template_correlations(weights, images, targets)
    assert correlations[:2] == [pytest.approx(1), pytest.approx(-1)]
    assert correlations[2] is None
    constant = task4.template_correlations(np.ones_like(weights), images, targets)
    assert constant == [None, None, None]


def test_same_seed_gives_identical_results(mnist_dir: Path, output_dirs) -> None:
    def without_seconds(results: dict) -> list[dict]:
        return [{k: v for k, v in run.items() if k != "seconds"} for run in results["runs"]]

    first = run_quick("task2", mnist_dir)
    second = run_quick("task2", mnist_dir)
    other_seed = run_quick("task2", mnist_dir, "--seed", "1")
    assert without_seconds(first) == without_seconds(second)
    shuffled = [run for run in without_seconds(other_seed) if run["shuffle"]]
    assert shuffled != [run for run in without_seconds(first) if run["shuffle"]]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lr", "0"], "argument --lr: must be a finite number greater than 0"),
        (["--lr", "-1"], "argument --lr: must be a finite number greater than 0"),
        (["--lr", "inf"], "argument --lr: must be a finite number greater than 0"),
        (["--lr", "nan"], "argument --lr: must be a finite number greater than 0"),
        (["--seed", "-1"], "argument --seed: must be a whole number >= 0"),
        (["--seed", "1.5"], "argument --seed: invalid non_negative_int value"),
        (["--batch-size", "0"], "argument --batch-size: must be at least 1"),
        (["--batch-size", "5000"], "5000 is larger than the training set"),
        (["--epochs", "0"], "argument --epochs: must be at least 1"),
    ],
)
def test_invalid_values_are_refused(
    flags: list[str], message: str, mnist_dir: Path, output_dirs, capsys
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        task3.main(["--quick", "--data-dir", str(mnist_dir), *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def script(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **env},
    )


def test_missing_data_is_one_clear_line(tmp_path: Path) -> None:
    folders = {"FIGURES_DIR": str(tmp_path / "figures"), "RESULTS_DIR": str(tmp_path / "results")}
    result = script("task2.py", "--quick", "--data-dir", str(tmp_path), **folders)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "lacks train-images-idx3-ubyte.gz" in result.stderr


def test_diverging_training_is_one_clear_line(mnist_dir: Path, tmp_path: Path) -> None:
    result = script(
        "task3.py",
        "--quick",
        "--lr",
        "1e38",
        "--data-dir",
        str(mnist_dir),
        FIGURES_DIR=str(tmp_path),
        RESULTS_DIR=str(tmp_path),
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "try a smaller one" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]


MAIN_THAT_OVERFLOWS = """
import numpy as np
import trainer, utils

def main():
    np.float32(3e38) * np.float32(10)  # overflows: NumPy warns
    if DIVERGE:
        raise trainer.TrainingDivergedError("the training loss became nan at step 3")
    print("main ended")

utils.run_main(main)
"""


@pytest.mark.parametrize("diverge", [False, True])
def test_numpys_warnings_show_unless_the_run_diverged(diverge: bool) -> None:
    """A student's own overflow shows; a diverging run ends with its one line alone."""
    result = script("-c", f"DIVERGE = {diverge}" + MAIN_THAT_OVERFLOWS)
    if diverge:
        assert result.returncode == 1
        assert result.stderr.strip() == "-c: error: the training loss became nan at step 3"
    else:
        assert result.returncode == 0 and result.stdout == "main ended\n"
        assert "RuntimeWarning: overflow encountered" in result.stderr


def test_script_runs_quietly_off_a_terminal(mnist_dir: Path, tmp_path: Path) -> None:
    result = script(
        "task2.py",
        "--quick",
        "--data-dir",
        str(mnist_dir),
        FIGURES_DIR=str(tmp_path),
        RESULTS_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "it/s" not in result.stderr and "epoch/s" not in result.stderr
    assert "no_shuffle" in result.stdout and (tmp_path / "quick" / "task2.json").exists()


def test_float64_training_matches_float32(mnist_dir: Path, output_dirs) -> None:
    single = run_quick("task3", mnist_dir)["runs"]
    double = run_quick("task3", mnist_dir, "--dtype", "float64")["runs"]
    for run32, run64 in zip(single, double, strict=True):
        assert run32["steps"] == run64["steps"]
        assert abs(run32["test_accuracy"] - run64["test_accuracy"]) <= 0.01
        assert run32["test_loss"] == pytest.approx(run64["test_loss"], rel=1e-3)
