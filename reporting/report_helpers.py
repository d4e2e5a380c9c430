"""Load the task results and format them for report.ipynb.

Every number the report states is read from ``results/*.json`` through this
module, so the text cannot disagree with the figures.  The results and figure
folders default to ``results/`` and ``figures/`` beside this file and can be
redirected with the environment variables ``RESULTS_DIR`` and ``FIGURES_DIR``.

The notebook's prose lives in Markdown cells; a number in it is an ``{eval}``
role whose expression names a string made by one of the formatters below.
The other helpers measure evidence from a run's history (spikes, averages
over blocks of epochs, split sizes); the notebook checks each claim its prose
makes from them (reporting/claims.py).  Results of another shape than the model
answer's (a run too short for its blocks, one seed) raise ``NotComputableError``,
which says what is missing: the notebook shows that quantity as one that
cannot be computed, and its statements as ones that cannot be checked.
Adding a report section takes its task name in
``REPORT_TASKS`` (so that the build checks for its results) and a
``load_task("taskN")`` call in the notebook.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from IPython.display import Latex

import dataloaders
from softmax_regression import NUM_CLASSES
from support.outputs import figures_dir, rerun_command, results_dir

REPORT_TASKS: tuple[str, ...] = ("task2", "task3", "task4", "task5")
"""Results files (``<results_dir>/<task>.json``) that report.ipynb reads."""


class MissingResultsError(RuntimeError):
    """A results file, a run inside it, an entry of a run or a figure is missing."""


class NotComputableError(ValueError):
    """A quantity cannot be computed from results of this shape; the message says why (e.g. a
    run that stopped before the end of its first block of epochs)."""


class RunRecord(dict[str, Any]):
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
    runs: dict[str, RunRecord]

    def run(self, name: str) -> RunRecord:
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
    return TaskResults(task, path, {run["name"]: RunRecord(run, task, path) for run in runs})


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


def hundredths(fraction: float, decimals: int = 2, rounding: str = ROUND_HALF_UP) -> Decimal:
    """100 * `fraction` rounded to `decimals` places as a person rounds the number written: an
    accuracy of 3647 / 4000 = 0.91175 is 91.18, not the 91.17 of its binary approximation."""
    return (Decimal(str(float(fraction))) * 100).quantize(Decimal(1).scaleb(-decimals), rounding)


def percent(fraction: float, decimals: int = 2) -> str:
    """A fraction as a percentage: ``0.97531`` -> ``97.53%``.

    Rounded down near 100 %, so that a score short of perfect never reads as perfect:
    ``0.99995`` -> ``99.99%``.
    """
    shown = hundredths(fraction, decimals)
    if fraction < 1 and shown >= 100:
        shown = hundredths(fraction, decimals, ROUND_DOWN)
    return f"{shown}%"


def points(fraction: float) -> str:
    """A difference of accuracies in percentage points: ``0.0213`` -> ``2.13``."""
    return f"{hundredths(fraction)}"


def points_between(low: float, high: float) -> str:
    """How many points ``percent(high)`` lies above ``percent(low)``, as the reader would
    subtract them: the gains of a sentence then add up to its totals."""
    return f"{hundredths(high) - hundredths(low)}"


def standard_deviation(values: Sequence[float]) -> float:
    """The sample standard deviation of ``values`` (e.g. accuracies over seeds)."""
    if len(values) < 2:
        raise NotComputableError(f"a spread needs two values or more (seeds?), not {len(values)}")
    return statistics.stdev(values)


def spread(fractions: Sequence[float]) -> str:
    """Mean ± standard deviation of accuracies (e.g. over seeds), in percent:
    ``[0.9865, 0.9869, 0.9869]`` -> ``98.68 ± 0.02%``; a single accuracy as it is."""
    if len(fractions) == 1:
        return percent(fractions[0])
    mean, sd = statistics.fmean(fractions), statistics.stdev(fractions)
    return f"{100 * mean:.2f} ± {100 * sd:.2f}%"


def words(items: Sequence[str], conjunction: str = "and") -> str:
    """A list as the text says it: ``["1", "2", "3"]`` -> ``1, 2 and 3``; ``[]`` -> ``""``."""
    if not items:
        return ""
    *first, last = items
    return f"{', '.join(first)} {conjunction} {last}" if first else last


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and the noun in the number it takes: ``1 epoch``, ``3 epochs``."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def loss_value(value: float) -> str:
    """A cross-entropy value, to four decimals."""
    return f"{value:.4f}"


def integer(value: int) -> str:
    """A count or a step number, with thousands separators: ``6355`` -> ``6,355``."""
    return f"{value:,}"


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without an exponent (``inf`` and ``nan`` as
    they are)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def epochs(value: float, decimals: int | None = None) -> str:
    """A (possibly fractional) number of epochs of training: ``10.06`` -> ``10.1``, ``12.0`` ->
    ``12``; with ``decimals``, always that many: ``epochs(7, 1)`` -> ``7.0`` (for table columns).
    """
    if decimals is not None:
        return f"{value:.{decimals}f}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def in_epochs(value: float) -> str:
    """A length of training in epochs, rounded to 0.1, with its unit: ``1 epoch``, ``5.4
    epochs``."""
    shown = epochs(round(value, 1))
    return f"{shown} epoch{'' if shown == '1' else 's'}"


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


def l2_lambda(run: RunRecord) -> str:
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


# Steps count as the trainer counts them (``trainer.History``): step s is the weights after s
# updates, so a run ends at step run["steps"]; epoch = step / steps per epoch.


def end_epochs(run: RunRecord) -> float:
    """Where ``run`` ended, in epochs of training (its steps / steps per epoch)."""
    return run["steps"] / run["steps_per_epoch"]


def best_epochs(run: RunRecord) -> float:
    """Where ``run`` had its lowest validation loss, in epochs of training."""
    return run["best_step"] / run["steps_per_epoch"]


# ---------------------------------------------------------------- curve analysis


def validation_interval(run: RunRecord) -> int:
    """Training steps between two validation points of ``run``."""
    steps = run["history"]["step"]
    if len(steps) < 2:
        raise NotComputableError(f"run {run['name']} was validated only once: no interval")
    return steps[1] - steps[0]


def validations_per_epoch(run: RunRecord) -> int:
    """How many times per epoch ``run`` was validated, rounded."""
    return round(run["steps_per_epoch"] / validation_interval(run))


@dataclass(frozen=True)
class Block:
    """Means over the validation points of a run from epoch ``start`` (excluded) to ``end``
    (included): the points measured after more than ``start`` and at most ``end`` epochs of
    training."""

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


def epoch_blocks(
    run: RunRecord, width: float, whole_only: bool = False, at_least: int = 1
) -> list[Block]:
    """Means of ``run``'s history over consecutive blocks of ``width`` epochs of training.

    Averages over a block smooth out the noise of single validation points. With
    ``whole_only``, a last block that the run did not finish is left out. A block without a
    validation point is left out too. NotComputableError if fewer than ``at_least`` blocks remain
    (a statement about how the blocks change needs two).
    """
    history = run["history"]
    trained = run["steps"] / run["steps_per_epoch"]  # epochs of training in all
    blocks, start = [], 0.0
    while start < history["epoch"][-1] and not (whole_only and start + width > trained + 1e-9):
        end = start + width
        inside = [i for i, e in enumerate(history["epoch"]) if start < e <= end]
        if inside:
            keys = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
            means = [statistics.fmean(history[key][i] for i in inside) for key in keys]
            blocks.append(Block(start, end, *means))
        start = end
    if len(blocks) < at_least:
        kind = "whole block" if whole_only else "block with a validation point"
        raise NotComputableError(
            f"run {run['name']} trained {in_epochs(trained)}: {counted(len(blocks), kind)} "
            f"of {in_epochs(width)}, fewer than the {at_least} needed"
        )
    return blocks


def highest_validation_losses(run: RunRecord, count: int) -> list[tuple[int, float]]:
    """The ``count`` highest validation losses of ``run`` after its first epoch (measured after
    more than one epoch of training), highest first, as (step, loss) pairs."""
    history = run["history"]
    after_first_epoch = [i for i, epoch in enumerate(history["epoch"]) if epoch > 1]
    if not after_first_epoch:
        raise NotComputableError(f"run {run['name']} has no validation point after its first epoch")
    losses = [(history["step"][i], history["val_loss"][i]) for i in after_first_epoch]
    return sorted(losses, key=lambda point: point[1], reverse=True)[:count]


@dataclass(frozen=True)
class RecurringSpike:
    """Task 2e: the update after which the validation loss of a run without shuffling spikes.

    ``batch`` is the batch of the epoch (from 0) whose update the highest validation losses after
    the first epoch follow: ``after`` of the ``peaks`` highest. ``jumps`` holds, for every
    validation point after the first epoch that follows that update, (step, loss on the whole
    training set, that loss at the validation points before and after it); ``period`` is the
    number of steps between two of them.
    """

    batch: int
    after: int
    peaks: int
    jumps: list[tuple[int, float, float, float]]
    period: int

    def measured_jumps(self) -> list[tuple[int, float, float, float]]:
        """The `jumps`; NotComputableError if there are none."""
        if not self.jumps:
            raise NotComputableError(
                f"no validation point after the first epoch follows the update on batch "
                f"{self.batch}"
            )
        return self.jumps

    @property
    def first_jump(self) -> tuple[int, float, float, float]:
        """The first of the `jumps`."""
        return self.measured_jumps()[0]

    @property
    def smallest_jump(self) -> float:
        """The smallest ratio of a jump's loss to the higher of its two neighbours'."""
        jumps = self.measured_jumps()
        return min(loss / max(before, after) for _, loss, before, after in jumps)


def recurring_spike(run: RunRecord, peaks: int = 6) -> RecurringSpike:
    """Where the validation loss of ``run`` spikes again and again, and what the training loss
    does there. The point at step s follows update s, made on batch (s - 1) % steps per epoch."""
    epoch_steps, history = run["steps_per_epoch"], run["history"]
    positions = [(step - 1) % epoch_steps for step, _ in highest_validation_losses(run, peaks)]
    batch, losses = positions[0], history["train_loss"]
    jumps = [
        (step, losses[i], losses[i - 1], losses[i + 1])
        for i, step in enumerate(history["step"][1:-1], start=1)
        if step > epoch_steps and (step - 1) % epoch_steps == batch
    ]
    period = math.lcm(validation_interval(run), epoch_steps)
    return RecurringSpike(batch, positions.count(batch), len(positions), jumps, period)


def highest_batch_loss(run: RunRecord) -> float:
    """The highest loss of a training batch of ``run`` after its first epoch."""
    after_first_epoch = run["history"]["batch_loss"][run["steps_per_epoch"] :]
    if not after_first_epoch:
        raise NotComputableError(f"run {run['name']} trained no batch after its first epoch")
    return max(after_first_epoch)


def batch_and_training_losses(run: RunRecord) -> list[tuple[float, float]]:
    """At each validation point of ``run`` after its first epoch: the mean loss of the training
    batches of the epoch before it, and the loss on the whole training set there."""
    history, epoch_steps = run["history"], run["steps_per_epoch"]
    pairs = [
        (statistics.fmean(history["batch_loss"][step - epoch_steps : step]), loss)
        for step, loss in zip(history["step"], history["train_loss"], strict=True)
        if step >= epoch_steps
    ]
    if not pairs:
        raise NotComputableError(f"run {run['name']} has no validation point after its first epoch")
    return pairs


def first_point_from(run: RunRecord, epoch: float) -> int:
    """The index in ``run``'s history of its first validation point after at least ``epoch``
    epochs of training."""
    reached = [i for i, at in enumerate(run["history"]["epoch"]) if at >= epoch]
    if not reached:
        raise NotComputableError(
            f"run {run['name']} ended after {in_epochs(end_epochs(run))}, before epoch "
            f"{epochs(epoch)}"
        )
    return reached[0]


def validation_accuracy_at(run: RunRecord, step: int) -> float:
    """The validation accuracy of ``run`` at its last validation point up to ``step``."""
    history = run["history"]
    before = [i for i, at in enumerate(history["step"]) if at <= step]
    if not before:
        raise NotComputableError(f"run {run['name']} has no validation point up to step {step}")
    last = before[-1]
    return history["val_accuracy"][last]


def epoch_correlation(run: RunRecord) -> float:
    """How much the loss of a training batch repeats that of the batch one epoch earlier, after
    the first epoch: the correlation of each batch loss's departure from the mean of its epoch
    with that of the batch one epoch later. Near 1 when the same batches come in the same order
    every epoch, near 0 when the order is new every epoch."""
    steps = run["steps_per_epoch"]
    losses = np.asarray(run["history"]["batch_loss"], dtype=float)
    epochs_done = len(losses) // steps
    if epochs_done < 3 or steps < 2:
        raise NotComputableError(
            f"run {run['name']} trained {counted(epochs_done, 'whole epoch')} of "
            f"{counted(steps, 'batch', 'batches')}: a correlation of batch losses one epoch "
            "apart, after the first epoch, needs 3 epochs of 2 batches or more"
        )
    by_epoch = losses[steps : epochs_done * steps].reshape(epochs_done - 1, steps)
    departures = (by_epoch - by_epoch.mean(axis=1, keepdims=True)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):  # constant losses: nan, refused below
        correlation = float(np.corrcoef(departures[:-steps], departures[steps:])[0, 1])
    if not math.isfinite(correlation):
        raise NotComputableError(f"the batch losses of run {run['name']} do not vary within epochs")
    return correlation


def accuracy_gaps(run: RunRecord, reference: RunRecord) -> list[float]:
    """The validation accuracy of ``reference`` minus that of ``run`` at every validation point
    after the first that both reached (after one update a penalty has hardly acted yet)."""
    shared = min(len(run["history"]["step"]), len(reference["history"]["step"]))
    if shared < 2:
        raise NotComputableError(
            f"run {run['name']} or {reference['name']} was validated only once"
        )
    ours, theirs = reference["history"]["val_accuracy"], run["history"]["val_accuracy"]
    return [ours[i] - theirs[i] for i in range(1, shared)]


def standard_error(accuracy: float, images: int) -> float:
    """Standard error of an accuracy measured on ``images`` independent images."""
    return math.sqrt(accuracy * (1 - accuracy) / images)


def difference_se(accuracy: float, images: int) -> float:
    """Standard error of the difference of two accuracies near ``accuracy``, each measured on
    ``images`` images: sqrt(2) standard errors. For two models scored on the same images it
    overstates the noise (their errors are correlated), which keeps the rule on the safe side."""
    return math.sqrt(2) * standard_error(accuracy, images)


def beyond_noise_between(accuracy: float, images: int, other: float, other_images: int) -> bool:
    """The noise rule for accuracies measured on different sets (training and validation):
    a finding only beyond twice sqrt(SE1^2 + SE2^2)."""
    noise = math.hypot(standard_error(accuracy, images), standard_error(other, other_images))
    return abs(accuracy - other) > 2 * noise


def beyond_noise(accuracy: float, other: float, images: int) -> bool:
    """The report's noise rule: two accuracies on ``images`` images differ by a finding only if
    they differ by more than twice the standard error of the difference."""
    return abs(accuracy - other) > 2 * difference_se(max(accuracy, other), images)


def split_by_noise(
    reference: RunRecord, runs: Sequence[RunRecord], images: int
) -> tuple[list[RunRecord], list[RunRecord]]:
    """The ``runs`` whose validation accuracy lies within noise of ``reference``'s, and those
    beyond it."""
    beyond = [r for r in runs if beyond_noise(reference["val_accuracy"], r["val_accuracy"], images)]
    return [r for r in runs if r not in beyond], beyond


def rises_beyond_noise(runs: Sequence[RunRecord], images: int) -> bool:
    """Whether any run scores higher than the one before it, beyond noise (validation)."""
    return any(
        b["val_accuracy"] > a["val_accuracy"]
        and beyond_noise(a["val_accuracy"], b["val_accuracy"], images)
        for a, b in pairwise(runs)
    )


def lambda_table(runs: Sequence[RunRecord]) -> str:
    """Task 4's table: per L2 strength, where the run stopped, its accuracies and sum(w^2)."""
    header = [r"$\lambda$", "Stopped after (epochs)", "Train acc.", "Val. acc.", "Test acc.",
              r"$\sum w^2$"]  # fmt: skip
    rows = [
        [
            l2_lambda(r),
            epochs(end_epochs(r), 1),
            percent(r["train_accuracy"]),
            percent(r["val_accuracy"]),
            percent(r["test_accuracy"]),
            number(r["weight_norm"]),
        ]
        for r in runs
    ]
    return table(header, rows, align="rrrrrr")


# ---------------------------------------------------------------- Task 5


def comparison_table(
    task3_run: RunRecord, softmax_runs: list[RunRecord], network_runs: list[RunRecord]
) -> str:
    """The appendix's table: softmax regression of Task 3, softmax regression on the network's
    inputs and training, and the network; accuracies as mean ± sd over the seeds where several."""

    def accuracy(runs: list[RunRecord], key: str) -> str:
        return spread([r[key] for r in runs])

    rows = [
        ("Softmax (Task 3a)", "pixels in [-1, 1]; plain SGD", [task3_run]),
        ("Softmax", "as the network", softmax_runs),
        (f"Network ({network_runs[0]['hidden_units']} units)", "deskewed, centred, shifted; "
         "momentum, cosine decay", network_runs),
    ]  # fmt: skip
    return table(
        ["Model", "Inputs and training", "Seeds", "Parameters", "Val. acc.", "Test acc."],
        [
            [
                name,
                how,
                integer(len(runs)),
                integer(runs[0].get("parameters", NUM_CLASSES * (dataloaders.IMAGE_PIXELS + 1))),
                accuracy(runs, "val_accuracy"),
                accuracy(runs, "test_accuracy"),
            ]
            for name, how, runs in rows
        ],
        align="llrrrr",
    )
