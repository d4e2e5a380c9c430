"""Any flag values the task scripts accept make a report: results of every shape are digested.

A draw runs some of the task scripts on the quick data (--quick) with flags drawn at random from
each flag's accepted range (epochs from 1, learning rates from tiny to divergent, batch sizes up
to the training set and beyond, patience, seeds, and Task 5's own flags), over the quick results
of the default flags; then the report is built from whatever results that leaves. A script either
writes its results or stops with a one-line error and leaves the previous ones whole (a diverging
learning rate, a batch larger than the training set); the build always writes the report: a
statement that the results do not support is listed, never a crash.

Each run of the tests draws anew (FLAG_DRAWS_SEED=n repeats the draws of a failure message).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from reporting import build_report, claims, report_helpers
from support import outputs

# The quick data's training set, in images: a larger batch is refused by the scripts.
QUICK_TRAINING_IMAGES = 1280
TASK_SCRIPTS = {task: f"{task}.py" for task in report_helpers.REPORT_TASKS}
# The one-line errors with which a script may refuse a draw, leaving its previous results.
REFUSALS = ("the training loss became", "argument --batch-size")
DRAWS_IN_THE_TEST_SUITE = 3

Draw = Callable[[random.Random], list[str]]


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    """A number between `low` and `high` whose logarithm is uniform: every order of magnitude
    is as likely."""
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def epochs(rng: random.Random) -> list[str]:
    return [str(rng.choice([1, 1, 2, rng.randint(1, 12)]))]


def learning_rate(rng: random.Random) -> list[str]:
    return [f"{log_uniform(rng, 1e-6, 30):.3g}"]


def batch_size(rng: random.Random, smallest: int = 1) -> list[str]:
    whole = QUICK_TRAINING_IMAGES
    if rng.random() < 0.1:
        return [str(whole + 1)]  # refused
    drawn = [smallest, whole, rng.randint(smallest, whole), 2 ** rng.randint(0, 10)]
    return [str(max(smallest, rng.choice(drawn)))]


def network_batch_size(rng: random.Random) -> list[str]:
    """Task 5's batches: from 16 images, since each batch is shifted image by image, and
    smaller ones make a quick run take many minutes (the shape of its results is that of Tasks
    2-4, whose batches go down to 1)."""
    return batch_size(rng, smallest=16)


def seed(rng: random.Random) -> list[str]:
    return [str(rng.choice([0, rng.randint(0, 2**31)]))]


def patience(rng: random.Random) -> list[str]:
    return [str(rng.choice([1, 2, rng.randint(1, 30)]))]


def dtype(rng: random.Random) -> list[str]:
    return [rng.choice(["float32", "float64"])]


def hidden_units(rng: random.Random) -> list[str]:
    return [str(rng.choice([1, rng.randint(1, 300)]))]


def momentum(rng: random.Random) -> list[str]:
    return [f"{rng.choice([0.0, 0.99, rng.uniform(0, 1)]):.3g}"]


def l2(rng: random.Random) -> list[str]:
    return [f"{rng.choice([0.0, log_uniform(rng, 1e-6, 1)]):.3g}"]


def max_shift(rng: random.Random) -> list[str]:
    return [str(rng.choice([0, rng.randint(0, 30)]))]


def seeds(rng: random.Random) -> list[str]:
    return [str(rng.choice([1, 2, rng.randint(1, 4)]))]


def switch(rng: random.Random) -> list[str]:
    return []  # a flag without a value: drawn or not


COMMON: dict[str, Draw] = {
    "--epochs": epochs,
    "--lr": learning_rate,
    "--batch-size": batch_size,
    "--seed": seed,
    "--dtype": dtype,
}
# Every flag of each script but those that change where it reads or writes, or what it runs
# (--data-dir, --quick, --show, task5.py --search), as `python taskN.py --help` lists them.
FLAGS: dict[str, dict[str, Draw]] = {
    "task2": {**COMMON, "--patience": patience},
    "task3": {**COMMON, "--patience": patience},
    "task4": {**COMMON, "--patience": patience},
    "task5": {
        **COMMON,
        "--batch-size": network_batch_size,
        "--hidden-units": hidden_units,
        "--momentum": momentum,
        "--l2": l2,
        "--softmax-lr": learning_rate,
        "--max-shift": max_shift,
        "--no-deskew": switch,
        "--constant-lr": switch,
        "--seeds": seeds,
    },
}


def draw_flags(rng: random.Random) -> dict[str, list[str]]:
    """Flags for one or more task scripts: each flag of a script drawn with probability 0.4."""
    while True:
        drawn = {}
        for task, flags in FLAGS.items():
            if rng.random() < 0.5:
                chosen = [flag for flag in flags if rng.random() < 0.4]
                drawn[task] = [part for flag in chosen for part in [flag, *flags[flag](rng)]]
        if any(drawn.values()):
            return {task: flags for task, flags in drawn.items() if flags}


@dataclass
class ScriptRun:
    """A task script run on a draw's flags: how it ended."""

    task: str
    flags: list[str]
    returncode: int
    error: str  # its last line on stderr when it failed

    def __str__(self) -> str:
        ended = "wrote its results" if self.returncode == 0 else f"refused: {self.error}"
        return f"{TASK_SCRIPTS[self.task]} {' '.join(self.flags)}: {ended}"


def run_scripts(
    drawn: dict[str, list[str]], folder: Path, mnist_dir: Path, timeout: float = 900
) -> list[ScriptRun]:
    """Run each task script of `drawn` with --quick and its flags, writing into quick/ under
    `folder`/figures and `folder`/results; a script that fails must fail in one line and leave
    its previous results as they were."""
    env = {
        **os.environ,
        "MNIST_DIR": str(mnist_dir),
        "FIGURES_DIR": str(folder / "figures"),
        "RESULTS_DIR": str(folder / "results"),
    }
    runs = []
    for task, flags in drawn.items():
        results = folder / "results" / "quick" / f"{task}.json"
        before = results.read_bytes()
        finished = subprocess.run(
            [sys.executable, TASK_SCRIPTS[task], "--quick", *flags],
            cwd=outputs.REPO,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
        )
        lines = finished.stderr.strip().splitlines()
        run = ScriptRun(task, flags, finished.returncode, lines[-1] if lines else "")
        if run.returncode != 0:
            assert "Traceback" not in finished.stderr, f"{run}:\n{finished.stderr}"
            assert any(refusal in run.error for refusal in REFUSALS), f"{run}\n{finished.stderr}"
            assert results.read_bytes() == before, f"{run}, but its results changed"
        runs.append(run)
    return runs


def copy_results(source: tuple[Path, Path], folder: Path) -> None:
    """The (figures, results) quick/ folders of `source` copied to quick/ under `folder`."""
    for copied, kind in zip(source, ("figures", "results"), strict=True):
        shutil.copytree(copied, folder / kind / "quick")


def draws_seed() -> int:
    """FLAG_DRAWS_SEED if set, else a new seed for each run of the tests."""
    return int(os.environ.get("FLAG_DRAWS_SEED") or random.SystemRandom().randrange(10**6))


DRAWS_SEED = draws_seed()


@pytest.mark.slow
@pytest.mark.parametrize("draw", range(DRAWS_IN_THE_TEST_SUITE))
def test_any_flags_make_a_report(
    draw: int,
    quick_results: tuple[Path, Path],
    mnist_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(f"{DRAWS_SEED}-{draw}")
    drawn = draw_flags(rng)
    copy_results(quick_results, tmp_path)
    runs = run_scripts(drawn, tmp_path, mnist_dir)
    monkeypatch.setenv("FIGURES_DIR", str(tmp_path / "figures" / "quick"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results" / "quick"))
    pdf = not build_report.missing_latex_tools()
    output = tmp_path / ("report.pdf" if pdf else "report.html")
    where = f"FLAG_DRAWS_SEED={DRAWS_SEED}, draw {draw}: " + "; ".join(map(str, runs))
    print(where)  # shown with the test's output (pytest -rA), to rerun the draw
    try:
        written = build_report.build(output=output, allow_quick=True)
    except build_report.ReportError as exc:
        pytest.fail(f"{where}: the build stopped: {exc}")
    assert written == output and output.read_bytes().startswith(b"%PDF" if pdf else b"<"), where
    # Each statement listed is printed in one line that names its place and what is wrong.
    printed = capsys.readouterr().err.splitlines()
    assert all(line.startswith("build_report.py: ") for line in printed), (where, printed)


def test_a_run_that_stops_in_its_first_block_makes_a_report(
    quick_results: tuple[Path, Path],
    mnist_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`task3.py --epochs 5` on the full data (here --epochs 1 on the quick data, whose blocks are
    0.6 epochs): Task 3b's blocks cannot be computed, so the statements about them cannot be
    checked, each listed with why; the rest of the report is built as usual."""
    copy_results(quick_results, tmp_path)
    run_scripts({"task3": ["--epochs", "1"]}, tmp_path, mnist_dir)
    monkeypatch.setenv("FIGURES_DIR", str(tmp_path / "figures" / "quick"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results" / "quick"))
    notebook = build_report.read_report()
    build_report.execute(notebook)
    box = claims.box_contents(notebook)
    too_short = (
        "run early_stopping trained 1 epoch: 1 whole block of 0.6 epochs, fewer than the 2 needed"
    )
    assert box["reasons"]["3b: t3_blocks"] == too_short
    for statement in ("3b: the validation loss falls beyond noise", "3c: training and"):
        listed = next(entry for entry in box["failed"] if entry.startswith(statement))
        assert box["reasons"][listed] == "needs t3_blocks" + (" of Task 3b" * ("3c" in statement))
    assert box["checked"] >= 40  # every other statement checked as usual
