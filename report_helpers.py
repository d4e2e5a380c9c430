"""Load the task results and format them for report.ipynb.

Every number the report states is read from ``results/*.json`` through this
module, so the text cannot disagree with the figures.  The results and figure
folders default to ``results/`` and ``figures/`` beside this file and can be
redirected with the environment variables ``RESULTS_DIR`` and ``FIGURES_DIR``.

Adding a report section takes its task name in ``REPORT_TASKS`` (so that the
build checks for its results), a ``load_task("taskN")`` call in the notebook
and Markdown cells built with the helpers below.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from utils import figures_dir, results_dir

REPORT_TASKS: tuple[str, ...] = ("task2", "task3", "task4", "task5", "task5_search")
"""Results files (``<results_dir>/<task>.json``) that report.ipynb reads."""

Run = dict[str, Any]


class MissingResultsError(RuntimeError):
    """A results file, a run inside it or a figure is missing."""


# ---------------------------------------------------------------- loading


def rerun_hint(task: str | None = None) -> str:
    """How to produce the results and figures (of ``task``, e.g. "task5_search", if given)."""
    if task is None:
        return "run `make figures` (or the task scripts) first"
    script, _, variant = task.partition("_")
    command = f"python {script}.py" + (f" --{variant}" if variant else "")
    return f"run `make figures` (or `{command}`) first"


def missing_results(tasks: Sequence[str] = REPORT_TASKS) -> list[Path]:
    """Results files of ``tasks`` that do not exist."""
    paths = [results_dir() / f"{task}.json" for task in tasks]
    return [path for path in paths if not path.is_file()]


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
    runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
    return TaskResults(task, path, {run["name"]: run for run in runs})


# ---------------------------------------------------------------- numbers


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


def loss(value: float) -> str:
    """A cross-entropy value."""
    return f"{value:.4f}"


def integer(value: int) -> str:
    """A count such as a step number, with thousands separators: ``6355`` -> ``6,355``."""
    return f"{value:,}"


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without an exponent."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def epochs(value: float) -> str:
    """A (possibly fractional) number of epochs of training: ``10.06`` -> ``10.1``."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def scientific(value: float) -> str:
    """LaTeX for ``value`` in scientific notation: ``1e-5`` -> ``10^{-5}``."""
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10**exponent
    power = f"10^{{{exponent}}}"
    return power if math.isclose(mantissa, 1) else f"{mantissa:g} \\times {power}"


def l2_lambda(run: Run) -> str:
    """The L2 strength of a run, as written in the text."""
    return f"{run.get('l2_lambda') or 0:g}"


# ---------------------------------------------------------------- Markdown


def figure(filename: str, caption: str, width: float = 0.65) -> str:
    """Markdown for a captioned figure from the figures folder.

    ``width`` is a fraction of the text width (the PDF template also caps
    every image at the line width).
    """
    path = figures_dir() / filename
    if not path.is_file():
        raise MissingResultsError(f"{path} is missing; {rerun_hint()}.")
    try:
        shown = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = path.resolve()
    return f"![{caption}](<{shown.as_posix()}>){{width={100 * width:g}%}}"


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


def stop_description(run: Run) -> str:
    """How training of ``run`` ended, as a phrase: ``"stopped at step 372 (epoch 13)"``."""
    if run.get("stopped_at_step") is None:
        return f"ran all {run['epochs']} epochs ({integer(run['steps'])} steps)"
    return (
        f"stopped at step {integer(run['stopped_at_step'])} "
        f"(epoch {epochs(run['stopped_at_epoch'])})"
    )


def setup_description(run: Run) -> str:
    """Shuffling, early stopping and L2 strength of ``run``, as a short phrase."""
    parts = ["shuffled" if run.get("shuffle") else "not shuffled"]
    if run.get("early_stopping_patience") is None:
        parts.append("no early stopping")
    elif run.get("stopped_at_epoch") is None:
        parts.append("early stopping never triggered")
    else:
        parts.append(f"stopped in epoch {epochs(run['stopped_at_epoch'])}")
    if "l2_lambda" in run:
        parts.append(f"$\\lambda = {l2_lambda(run)}$")
    return ", ".join(parts)


def results_table(tasks: Sequence[TaskResults], caption: str = "") -> str:
    """One row per run of every task: its set-up and final numbers."""
    header = ["Task", "Run", "Set-up", "Steps", "Train acc.", "Val. acc.", "Test acc.", "Test loss"]
    rows = [
        [
            task.task.removeprefix("task"),
            run["name"].replace("_", " "),
            setup_description(run),
            integer(run["steps"]),
            percent(run["train_accuracy"]),
            percent(run["val_accuracy"]),
            percent(run["test_accuracy"]),
            loss(run["test_loss"]),
        ]
        for task in tasks
        for run in task.runs.values()
    ]
    return table(header, rows, align="lllrrrrr", caption=caption)


# ---------------------------------------------------------------- curve analysis


def nearest_point(run: Run, epoch: float) -> int:
    """Index of the validation point of ``run`` closest to ``epoch`` epochs of training."""
    history = run["history"]["epoch"]
    return min(range(len(history)), key=lambda i: abs(history[i] - epoch))


def steps_per_epoch(run: Run) -> float:
    """Training steps in one epoch of ``run``."""
    history = run["history"]
    return history["step"][-1] / history["epoch"][-1]


def validation_interval(run: Run) -> int:
    """Training steps between two validation points of ``run``."""
    steps = run["history"]["step"]
    return steps[1] - steps[0]


def validations_per_epoch(run: Run) -> int:
    """How many times per epoch ``run`` was validated."""
    return round(steps_per_epoch(run) / validation_interval(run))


def patience_epochs(run: Run) -> float:
    """The early-stopping patience of ``run`` in epochs of training."""
    return run["early_stopping_patience"] * validation_interval(run) / steps_per_epoch(run)


@dataclass(frozen=True)
class Spikes:
    """Upward jumps of a validation-loss curve above its local trend, after the first epoch.

    ``steps`` are the validation points more than ``threshold`` above the
    running median; ``period`` is the most common distance in steps between
    successive spikes and ``repeats`` how often it occurs.  ``jaggedness`` is
    the mean absolute change of the loss between successive validation points.
    """

    steps: list[int]
    largest: float
    threshold: float
    period: int | None
    repeats: int
    jaggedness: float

    @property
    def periodic(self) -> bool:
        """At least three gaps and most gaps between spikes have the same length."""
        return self.repeats >= max(3, (len(self.steps) - 1) / 2)


def validation_spikes(run: Run, window: int = 7, spread: float = 5.0) -> Spikes:
    """Find the spikes of the validation loss of ``run`` after its first epoch.

    The trend is the running median over ``window`` validation points; a point
    is a spike if it lies more than ``spread`` median absolute deviations above
    the trend.
    """
    history = run["history"]
    losses, half = history["val_loss"], window // 2
    settled = [i for i, e in enumerate(history["epoch"]) if e >= 1]
    if len(settled) < 2:
        return Spikes([], 0.0, 0.0, None, 0, 0.0)
    excess = {
        i: losses[i] - statistics.median(losses[max(0, i - half) : i + half + 1]) for i in settled
    }
    threshold = spread * statistics.median(abs(x) for x in excess.values())
    steps = [history["step"][i] for i, x in excess.items() if x > threshold]
    gaps = Counter(b - a for a, b in pairwise(steps)).most_common(1)
    period, repeats = gaps[0] if gaps else (None, 0)
    jaggedness = statistics.fmean(abs(losses[b] - losses[a]) for a, b in pairwise(settled))
    return Spikes(steps, max(excess.values()), threshold, period, repeats, jaggedness)


@dataclass(frozen=True)
class Overfitting:
    """How the gap between training and validation develops during one run.

    Accuracy gaps are training minus validation accuracy, loss gaps validation
    minus training loss, both at validation points.  ``early`` is the point
    after a tenth of the run.
    """

    early_epoch: float
    early_accuracy_gap: float
    early_loss_gap: float
    final_epoch: float
    final_accuracy_gap: float
    final_loss_gap: float
    best_step: int
    best_epoch: float
    best_val_loss: float
    final_val_loss: float
    opening_epoch: float | None

    @property
    def val_loss_rise(self) -> float:
        """Relative rise of the validation loss from its minimum to the end."""
        return self.final_val_loss / self.best_val_loss - 1

    @property
    def verdict(self) -> str:
        """``"clear"``: the validation loss turned up by more than 2 %;
        ``"mild"``: it did not, but the loss gap at least doubled after the
        first tenth of the run; ``"none"`` otherwise."""
        if self.val_loss_rise > 0.02:
            return "clear"
        if self.final_loss_gap > max(2 * self.early_loss_gap, 0.005):
            return "mild"
        return "none"


def overfitting(run: Run) -> Overfitting:
    """Measure the train-validation gap of ``run`` from its history.

    The gap *opens* at the first validation point from which the accuracy gap
    stays above half its final value until the end of training.
    """
    history = run["history"]
    acc_gaps = [t - v for t, v in zip(history["train_accuracy"], history["val_accuracy"],
                                      strict=True)]  # fmt: skip
    loss_gaps = [v - t for t, v in zip(history["train_loss"], history["val_loss"], strict=True)]
    early = nearest_point(run, history["epoch"][-1] / 10)
    best = min(range(len(acc_gaps)), key=history["val_loss"].__getitem__)
    opening = None
    for i in reversed(range(len(acc_gaps))):
        if acc_gaps[i] <= acc_gaps[-1] / 2:
            break
        opening = i
    return Overfitting(
        early_epoch=history["epoch"][early],
        early_accuracy_gap=acc_gaps[early],
        early_loss_gap=loss_gaps[early],
        final_epoch=history["epoch"][-1],
        final_accuracy_gap=acc_gaps[-1],
        final_loss_gap=loss_gaps[-1],
        best_step=history["step"][best],
        best_epoch=history["epoch"][best],
        best_val_loss=history["val_loss"][best],
        final_val_loss=history["val_loss"][-1],
        opening_epoch=None if opening is None else history["epoch"][opening],
    )


def gap_table(
    run: Run, caption: str = "", fractions: Sequence[float] = (0.02, 0.1, 0.2, 0.4, 0.6, 0.8, 1)
) -> str:
    """Training and validation numbers of ``run`` at ``fractions`` of its training."""
    history = run["history"]
    indices = sorted({nearest_point(run, f * history["epoch"][-1]) for f in fractions})
    header = ["Epochs", "Train acc.", "Val. acc.", "Gap (points)",
              "Train loss", "Val. loss", "Gap"]  # fmt: skip
    rows = [[
        epochs(history["epoch"][i]),
        percent(history["train_accuracy"][i]),
        percent(history["val_accuracy"][i]),
        points(history["train_accuracy"][i] - history["val_accuracy"][i]),
        loss(history["train_loss"][i]),
        loss(history["val_loss"][i]),
        loss(history["val_loss"][i] - history["train_loss"][i]),
    ] for i in indices]  # fmt: skip
    return table(header, rows, align="rrrrrrr", caption=caption)
