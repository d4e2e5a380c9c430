"""Load the task results and format them for report.ipynb.

Every number the report states is read from ``results/*.json`` through this
module, so the text cannot disagree with the figures.  The results and figure
folders default to ``results/`` and ``figures/`` beside this file and can be
redirected with the environment variables ``RESULTS_DIR`` and ``FIGURES_DIR``.

The notebook's prose lives in Markdown cells; a number in it is an ``{eval}``
role whose expression names a string made by one of the formatters below.
The other helpers measure evidence from a run's history (spikes, averages
over blocks of epochs, split sizes); the notebook asserts each claim its prose
makes from them.  Adding a report section takes its task name in
``REPORT_TASKS`` (so that the build checks for its results) and a
``load_task("taskN")`` call in the notebook.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from IPython.display import Latex

from utils import figures_dir, rerun_command, results_dir

REPORT_TASKS: tuple[str, ...] = ("task2", "task3", "task4", "task5", "task5_search")
"""Results files (``<results_dir>/<task>.json``) that report.ipynb reads."""


class MissingResultsError(RuntimeError):
    """A results file, a run inside it, an entry of a run or a figure is missing."""


class Run(dict[str, Any]):
    """One run's record from a results file; a missing entry names the file and the run."""

    def __init__(self, record: dict[str, Any], task: str, path: Path) -> None:
        super().__init__(record)
        self.task, self.path = task, path

    def __missing__(self, key: str) -> Any:
        raise MissingResultsError(
            f"{self.path}: run {self.get('name')!r} has no {key!r}; {rerun_hint(self.task)}"
        )


# ---------------------------------------------------------------- loading


def rerun_hint(task: str | None = None) -> str:
    """How to produce the results and figures (of ``task``, e.g. "task5_search", if given)."""
    if task is None:
        return "run `make figures` (or the task scripts) first"
    return f"run `make figures` (or `{rerun_command(task)}`) first"


@dataclass(frozen=True)
class TaskResults:
    """The runs of one task script, looked up by name."""

    task: str
    path: Path
    runs: dict[str, Run]

    def run(self, name: str) -> Run:
        """The run called ``name``; a clear error if the script did not write it."""
        if name not in self.runs:
            found = ", ".join(sorted(self.runs)) or "none"
            raise MissingResultsError(
                f"{self.path} has no run named {name!r} (found: {found}); {rerun_hint(self.task)}."
            )
        return self.runs[name]


def load_task(task: str) -> TaskResults:
    """Read ``<results_dir>/<task>.json``."""
    path = results_dir() / f"{task}.json"
    if not path.is_file():
        raise MissingResultsError(f"{path} is missing; {rerun_hint(task)}.")
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise MissingResultsError(
            f"{path} is not a valid results file; {rerun_hint(task)}"
        ) from exc
    return TaskResults(task, path, {run["name"]: Run(run, task, path) for run in runs})


# ---------------------------------------------------------------- numbers
# Each formatter returns plain text (no LaTeX), ready for an {eval} role.


class Text(str):
    """Text that a Markdown cell's {eval}`...` role shows as it is, in JupyterLab and the export.

    An {eval} value is shown as its repr(): a plain str gets quotes and escaped backslashes
    there. The repr() of a Text is the text itself. ``Text(percent(x))`` -> 12.35%.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def percent(fraction: float, decimals: int = 2) -> str:
    """A fraction as a percentage: ``0.97531`` -> ``97.53%``."""
    return f"{100 * fraction:.{decimals}f}%"


def points(fraction: float) -> str:
    """A difference of accuracies in percentage points: ``0.0213`` -> ``2.13``."""
    return f"{100 * fraction:.2f}"


def signed_points(fraction: float) -> str:
    """A change of accuracy in percentage points, with its sign: ``-0.0108`` -> ``-1.08``."""
    return f"{100 * fraction:+.2f}"


def spread(fractions: Sequence[float]) -> str:
    """Mean ± standard deviation of accuracies (e.g. over seeds), in percent:
    ``[0.9865, 0.9869, 0.9869]`` -> ``98.68 ± 0.02%``."""
    mean, sd = statistics.fmean(fractions), statistics.stdev(fractions)
    return f"{100 * mean:.2f} ± {100 * sd:.2f}%"


def spread_value(values: Sequence[float]) -> str:
    """Mean ± standard deviation of cross-entropy values, to four decimals."""
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


def loss_value(value: float) -> str:
    """A cross-entropy value, to four decimals."""
    return f"{value:.4f}"


def integer(value: int) -> str:
    """A count or a step number, with thousands separators: ``6355`` -> ``6,355``."""
    return f"{value:,}"


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without an exponent."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def epochs(value: float, decimals: int | None = None) -> str:
    """A (possibly fractional) number of epochs of training: ``10.06`` -> ``10.1``, ``12.0`` ->
    ``12``; with ``decimals``, always that many: ``epochs(7, 1)`` -> ``7.0`` (for table columns).
    """
    if decimals is not None:
        return f"{value:.{decimals}f}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def setting(value: float) -> str:
    """A hyperparameter as it is set in the code: ``0.05`` -> ``0.05``, ``2.0`` -> ``2``."""
    return f"{value:g}"


def scientific(value: float, digits: int = 2) -> Latex:
    """``value`` in scientific notation, as math typeset in JupyterLab and in the exports.

    ``1e-5`` -> $10^{-5}$; ``2.04e-6`` -> $2 \\times 10^{-6}$ (to ``digits`` significant digits).
    """
    exponent = math.floor(math.log10(abs(value)))
    mantissa = round(value / 10**exponent, digits - 1)
    if abs(mantissa) >= 10:  # rounded up to the next power of ten
        mantissa, exponent = mantissa / 10, exponent + 1
    power = f"10^{{{exponent}}}"
    return Latex(f"${power}$" if math.isclose(mantissa, 1) else f"${mantissa:g} \\times {power}$")


def l2_lambda(run: Run) -> str:
    """The L2 strength of a run, as written in the text."""
    return setting(run.get("l2_lambda") or 0)


# ---------------------------------------------------------------- figures and tables


def require_figures(*filenames: str) -> None:
    """Check that the figures the next Markdown cell shows exist in the figures folder."""
    for filename in filenames:
        path = figures_dir() / filename
        if not path.is_file():
            raise MissingResultsError(f"{path} is missing; {rerun_hint()}.")


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], align: str, caption: str = ""
) -> str:
    """A Markdown pipe table, with a caption if given, that always fits the page width.

    ``align`` holds one letter per column: ``l``, ``c`` or ``r``.  The dashes
    under the header are proportional to each column's longest entry and add
    up to more than a line, so the converter wraps cells within the text width
    instead of letting a wide table run into the margin.
    """
    columns = list(zip(header, *rows, strict=True))
    # Widths in characters, plus room for the space LaTeX puts between columns.
    longest = [max(len(cell) for cell in column) + 3 for column in columns]
    total = sum(longest)
    markers = {"l": ":{}-", "c": ":{}:", "r": "-{}:"}
    rule = [
        markers[a].format("-" * max(3, round(100 * n / total)))
        for a, n in zip(align, longest, strict=True)
    ]
    lines = ["| " + " | ".join(line) + " |" for line in [header, rule, *rows]]
    return "\n".join(lines) + (f"\n\nTable: {caption}" if caption else "")


def last_step(run: Run) -> int:
    """The number of the last training step of ``run``, counted from 0."""
    return run["steps"] - 1


def end_epochs(run: Run) -> float:
    """Where ``run`` ended, in epochs of training (last step / steps per epoch)."""
    return last_step(run) / steps_per_epoch(run)


def best_epochs(run: Run) -> float:
    """Where ``run`` had its lowest validation loss, in epochs of training."""
    return run["best_step"] / steps_per_epoch(run)


def stop_description(run: Run) -> str:
    """How training of ``run`` ended: ``"stopped at step 372, after 12 epochs"``.

    Steps are numbered from 0, as on the figures' axes; epochs of training are the step
    divided by the steps per epoch.
    """
    if run.get("stopped_at_step") is None:
        return f"ran all {run['epochs']} epochs, to step {integer(last_step(run))}"
    return (
        f"stopped at step {integer(run['stopped_at_step'])}, "
        f"after {epochs(round(end_epochs(run), 1))} epochs"
    )


def setup_description(run: Run) -> str:
    """Shuffling, Task 5's shifts and cosine decay, early stopping and L2 strength of ``run``,
    as a short phrase."""
    parts = ["shuffled" if run.get("shuffle") else "not shuffled"]
    if run.get("max_shift"):  # Task 5's options
        parts.append(f"shifts up to {run['max_shift']} px")
    if run.get("cosine_decay"):
        parts.append("cosine decay")
    if run.get("early_stopping_patience") is None:
        parts.append("no early stopping")
    elif run.get("stopped_at_step") is None:
        parts.append("early stopping never triggered")
    else:
        parts.append(f"stopped after {epochs(round(end_epochs(run), 1))} epochs")
    if "l2_lambda" in run:
        parts.append(f"$\\lambda = {l2_lambda(run)}$")
    return ", ".join(parts)


def results_table(tasks: Sequence[TaskResults], caption: str = "") -> str:
    """One row per run of every task: its set-up and final numbers.

    *Last step* is the number of the run's last training step, counted from 0.
    """
    header = ["Task", "Run", "Set-up", "Last step", "Train acc.", "Val. acc.", "Test acc.",
              "Test loss"]  # fmt: skip
    rows = [
        [
            task.task.removeprefix("task"),
            run["name"].replace("_", " "),
            setup_description(run),
            integer(last_step(run)),
            percent(run["train_accuracy"]),
            percent(run["val_accuracy"]),
            percent(run["test_accuracy"]),
            loss_value(run["test_loss"]),
        ]
        for task in tasks
        for run in task.runs.values()
    ]
    return table(header, rows, align="lllrrrrr", caption=caption)


# ---------------------------------------------------------------- curve analysis


def steps_per_epoch(run: Run) -> float:
    """Training steps in one epoch of ``run``."""
    history = run["history"]
    return history["step"][-1] / history["epoch"][-1]


def validation_interval(run: Run) -> int:
    """Training steps between two validation points of ``run``."""
    steps = run["history"]["step"]
    return steps[1] - steps[0]


def validations_per_epoch(run: Run) -> int:
    """How many times per epoch ``run`` was validated, rounded."""
    return round(steps_per_epoch(run) / validation_interval(run))


def patience_epochs(run: Run) -> float:
    """The early-stopping patience of ``run`` in epochs of training."""
    return run["early_stopping_patience"] * validation_interval(run) / steps_per_epoch(run)


def best_point(run: Run) -> int:
    """Index in the history of ``run`` of its lowest validation loss."""
    losses = run["history"]["val_loss"]
    return min(range(len(losses)), key=losses.__getitem__)


SPIKE_WINDOW = 7
"""Validation points in the running median that is the trend of a loss curve."""
SPIKE_SPREAD = 5.0
"""Median absolute deviations above the trend at which a point counts as a spike."""


@dataclass(frozen=True)
class Spikes:
    """Upward jumps of a validation-loss curve above its local trend, after the first epoch.

    ``steps`` are the validation points more than ``threshold`` above the
    running median; ``jaggedness`` is the mean absolute change of the loss
    between successive validation points.
    """

    steps: list[int]
    largest: float
    threshold: float
    jaggedness: float


def validation_spikes(run: Run, window: int = SPIKE_WINDOW, spread: float = SPIKE_SPREAD) -> Spikes:
    """Find the spikes of the validation loss of ``run`` after its first epoch.

    The trend is the running median over ``window`` validation points; a point
    is a spike if it lies more than ``spread`` median absolute deviations above
    the trend.
    """
    history = run["history"]
    losses, half = history["val_loss"], window // 2
    settled = [i for i, e in enumerate(history["epoch"]) if e >= 1]
    if len(settled) < 2:
        return Spikes([], 0.0, 0.0, 0.0)
    excess = {
        i: losses[i] - statistics.median(losses[max(0, i - half) : i + half + 1]) for i in settled
    }
    threshold = spread * statistics.median(abs(x) for x in excess.values())
    steps = [history["step"][i] for i, x in excess.items() if x > threshold]
    jaggedness = statistics.fmean(abs(losses[b] - losses[a]) for a, b in pairwise(settled))
    return Spikes(steps, max(excess.values()), threshold, jaggedness)


def loss_by_position(run: Run) -> dict[int, float]:
    """Median validation loss of ``run`` after its first epoch, by the position in the epoch
    (step modulo steps per epoch, from 0) of the step after which it was measured."""
    history = run["history"]
    per_epoch = round(steps_per_epoch(run))
    by_position: dict[int, list[float]] = {}
    for step, epoch, value in zip(history["step"], history["epoch"], history["val_loss"],
                                  strict=True):  # fmt: skip
        if epoch >= 1:
            by_position.setdefault(step % per_epoch, []).append(value)
    return {position: statistics.median(values) for position, values in sorted(by_position.items())}


@dataclass(frozen=True)
class Block:
    """Means over the validation points of a run from epoch ``start`` (included) to ``end``
    (excluded)."""

    start: float
    end: float
    train_loss: float
    val_loss: float
    train_accuracy: float
    val_accuracy: float

    @property
    def loss_gap(self) -> float:
        """Validation minus training loss."""
        return self.val_loss - self.train_loss

    @property
    def accuracy_gap(self) -> float:
        """Training minus validation accuracy."""
        return self.train_accuracy - self.val_accuracy


def epoch_blocks(run: Run, width: float) -> list[Block]:
    """Means of ``run``'s history over consecutive blocks of ``width`` epochs of training.

    Averages over a block smooth out the noise of single validation points.
    """
    history = run["history"]
    blocks, start = [], 0.0
    while start < history["epoch"][-1]:
        end = start + width
        inside = [i for i, e in enumerate(history["epoch"]) if start <= e < end]
        if inside:
            keys = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
            means = [statistics.fmean(history[key][i] for i in inside) for key in keys]
            blocks.append(Block(start, end, *means))
        start = end
    return blocks


def blocks_table(blocks: Sequence[Block], caption: str = "") -> str:
    """A table of ``epoch_blocks``: mean losses, accuracies and the gaps between them."""
    header = ["Epochs", "Train loss", "Val. loss", "Loss gap", "Train acc.", "Val. acc.",
              "Gap (points)"]  # fmt: skip
    rows = [[
        f"{epochs(b.start)}\u2013{epochs(b.end)}",  # an en dash
        loss_value(b.train_loss),
        loss_value(b.val_loss),
        loss_value(b.loss_gap),
        percent(b.train_accuracy),
        percent(b.val_accuracy),
        points(b.accuracy_gap),
    ] for b in blocks]  # fmt: skip
    return table(header, rows, align="rrrrrrr", caption=caption)
