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
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

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
    gradient_check: dict[str, float]

    def gradient_error(self, model: str) -> float:
        """The relative error of the gradient check of ``model`` that the script recorded."""
        if model not in self.gradient_check:
            raise MissingResultsError(
                f"{self.path} has no gradient check of {model!r}; {rerun_hint(self.task)}."
            )
        return self.gradient_check[model]

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
        results = json.loads(path.read_text(encoding="utf-8"))
        runs, check = results["runs"], results.get("gradient_check", {})
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise MissingResultsError(
            f"{path} is not a valid results file; {rerun_hint(task)}"
        ) from exc
    records = {run["name"]: RunRecord(run, task, path) for run in runs}
    return TaskResults(task, path, records, check)


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


def decimal(value: float | Fraction) -> Decimal:
    """``value`` as the decimal number it is written as (a float: its shortest repr, 0.91175) or
    is (a fraction, exactly to 28 digits)."""
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(repr(float(value)))


def hundredths(
    fraction: float | Fraction, decimals: int = 2, rounding: str = ROUND_HALF_UP
) -> Decimal:
    """100 * `fraction` rounded to `decimals` places as a person rounds the number written: an
    accuracy of 3647 / 4000 = 0.91175 is 91.18, not the 91.17 of its binary approximation."""
    return (decimal(fraction) * 100).quantize(Decimal(1).scaleb(-decimals), rounding)


def percent(fraction: float, decimals: int = 2) -> str:
    """A fraction as a percentage: ``0.97531`` -> ``97.53%``.

    Rounded down near 100 %, so that a score short of perfect never reads as perfect:
    ``0.99995`` -> ``99.99%``.
    """
    shown = hundredths(fraction, decimals)
    if fraction < 1 and shown >= 100:
        shown = hundredths(fraction, decimals, ROUND_DOWN)
    return f"{shown}%"


# How a number is rounded for the text: to the nearest (halves up), or, for a bound ("at most",
# "at least"), away from the values it bounds, so that the bound shown still holds.
ROUNDING = {None: ROUND_HALF_UP, "upper": ROUND_CEILING, "lower": ROUND_FLOOR}


def points(value: float | Fraction | Difference, bound: str | None = None) -> str:
    """Accuracy points: a difference of accuracies (its size), or a threshold or SE, in
    percentage points, rounded once: ``0.0213`` -> ``2.13``; ``bound`` "upper" or "lower" rounds
    up or down (`ROUNDING`)."""
    if isinstance(value, Difference):
        value = abs(value.value)
    return f"{hundredths(value, rounding=ROUNDING[bound])}"


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


def loss_value(value: float | Difference, bound: str | None = None) -> str:
    """A cross-entropy value, or the size of a difference of two, to four decimals (half up, or
    as `ROUNDING` says for a ``bound``)."""
    if isinstance(value, Difference):
        value = abs(value.value)
    return f"{decimal(value).quantize(Decimal('0.0001'), ROUNDING[bound])}"


def decimals(value: float, places: int, bound: str | None = None) -> str:
    """``value`` to ``places`` decimals (half up, or as `ROUNDING` says for a ``bound``; ``inf``
    and ``nan`` as they are)."""
    if not math.isfinite(value):
        return f"{value:g}"
    return f"{decimal(value).quantize(Decimal(1).scaleb(-places), ROUNDING[bound])}"


def span(low: float, high: float, digits: int = 3) -> str:
    """A range of values for the text: low and high joined by an en dash (U+2013)."""
    return f"{number(low, digits)}\u2013{number(high, digits)}"


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
    """Task 2e: the update after which the losses of a run without shuffling spike.

    ``batch`` is the batch of the epoch (from 0) whose update the highest validation losses after
    the first epoch follow. ``steps`` are the validation points after the first epoch that follow
    that update (`steps_after_batch`); ``jumps`` holds, for each, the loss on the whole training
    set there over the higher of its values at the points on either side (`jump_ratios`).
    ``train_rises`` and ``val_rises`` say how far the training and the validation loss rise there
    above the higher of their neighbours (`rises_above_neighbours`), ``val_dips`` how far the
    validation accuracy falls there below the lower of its neighbours; ``period`` is the number
    of steps between two such points. ``before`` and ``after`` are the largest `jump_ratios` right
    after the updates on the batches before and after it (infinite where no point follows them),
    and ``late`` the steps right after the next batch's update where the training loss still
    rises beyond noise.
    """

    batch: int
    steps: list[int]
    jumps: list[float]
    train_rises: list[Difference]
    val_rises: list[Difference]
    val_dips: list[Difference]
    period: int
    before: float
    after: float
    late: list[int]

    @property
    def smallest_jump(self) -> float:
        """The smallest of the `jumps`; NotComputableError if there are none."""
        if not self.jumps:
            raise NotComputableError(
                f"no validation point after the first epoch follows the update on batch "
                f"{self.batch}"
            )
        return min(self.jumps)

    @property
    def leading_val_spikes(self) -> tuple[int, int]:
        """How many of the first validation spikes, of the loss and of the accuracy, go beyond
        noise, one after the other."""
        return tuple(
            next((i for i, d in enumerate(spikes) if not d.rises), len(spikes))
            for spikes in (self.val_rises, self.val_dips)
        )


def recurring_spike(run: RunRecord, peaks: int = 6) -> RecurringSpike:
    """Where the losses of ``run`` spike again and again: after the update on the batch that most
    of the ``peaks`` highest validation losses after the first epoch follow. The point at step s
    follows update s, made on batch (s - 1) % steps per epoch."""
    epoch_steps = run["steps_per_epoch"]
    positions = [(step - 1) % epoch_steps for step, _ in highest_validation_losses(run, peaks)]
    batch = max(set(positions), key=positions.count)
    steps = steps_after_batch(run, batch)
    train, val, dips = (
        dict(rises_above_neighbours(run, key)) for key in ("train_loss", "val_loss", "val_accuracy")
    )
    period = math.lcm(validation_interval(run), epoch_steps)
    spikes = ([curve[s] for s in steps] for curve in (train, val, dips))
    before, after = (max(jump_ratios(run, batch + k), default=math.inf) for k in (-1, 1))
    late = [s for s in steps_after_batch(run, batch + 1) if train[s].rises]
    jumps = jump_ratios(run, batch)
    return RecurringSpike(batch, steps, jumps, *spikes, period, before, after, late)


def rises_above_neighbours(run: RunRecord, key: str) -> list[tuple[int, Difference]]:
    """Spikes of a curve (``key``: "train_loss", "val_loss" or "val_accuracy"): for every
    validation point after the first epoch but the last, its step and how far the curve there
    lies beyond both its neighbours, with the noise rule's threshold: a loss above the higher
    (with the SE of the run's final model on that split), an accuracy below the lower (with the
    SE of each accuracy). A spike is a point whose difference is positive and counts."""
    history, values = run["history"], run["history"][key]

    def beyond_neighbours(i: int) -> Difference:
        if key.endswith("accuracy"):  # an accuracy spikes down
            images = run["split_sizes"][key.removesuffix("_accuracy")]
            lower = min(values[i - 1], values[i + 1])
            return accuracy_difference(lower, images, values[i], images)
        se = run[f"{key}_se"]
        return loss_difference(values[i], se, max(values[i - 1], values[i + 1]), se)

    return [
        (history["step"][i], beyond_neighbours(i))
        for i in range(1, len(values) - 1)
        if history["epoch"][i] > 1
    ]


def largest_spike(run: RunRecord, key: str) -> Difference:
    """The spike of ``run``'s ``key`` curve that rises highest above its neighbours after the
    first epoch (`rises_above_neighbours`)."""
    return max((rise for _, rise in rises_above_neighbours(run, key)), key=lambda d: d.value)


def rms_ratio(run: RunRecord, other: RunRecord) -> float:
    """How many times larger the root mean square of ``run``'s weights is than ``other``'s
    (the same number of weights): the square root of the ratio of their squared norms."""
    return math.sqrt(run["weight_norm"] / other["weight_norm"])


def first_epoch_swings(run: RunRecord) -> tuple[list[int], float, float]:
    """The validation loss of ``run`` in its first epoch: the steps at which it more than doubled
    from one validation point to the next, its highest value, and its value at the epoch's end."""
    history = run["history"]
    inside = [i for i, epoch in enumerate(history["epoch"]) if epoch <= 1]
    losses = [history["val_loss"][i] for i in inside]
    doubled = [
        history["step"][i]
        for i, (a, b) in zip(inside[1:], pairwise(losses), strict=True)
        if b > 2 * a
    ]
    return doubled, max(losses), losses[-1]


def loss_sd(run: RunRecord, split: str) -> float:
    """The standard deviation of the images' own losses on ``split``: the SE of the mean loss
    times the square root of the number of images (the noise rule's sigma)."""
    return run[f"{split}_loss_se"] * math.sqrt(run["split_sizes"][split])


def first_steps_after_batch(run: RunRecord, batch: int, count: int = 2) -> str:
    """The first ``count`` of `steps_after_batch` for the text: ``"49, 235"``."""
    return ", ".join(integer(step) for step in steps_after_batch(run, batch)[:count])


def steps_after_batch(run: RunRecord, batch: int) -> list[int]:
    """The steps of the validation points of ``run`` after the first epoch (each with a point on
    either side) that come right after the update on ``batch`` (from 0) of an epoch: the point
    at step s follows update s, made on batch (s - 1) % steps per epoch."""
    epoch_steps = run["steps_per_epoch"]
    return [
        step
        for step in run["history"]["step"][1:-1]
        if step > epoch_steps and (step - 1) % epoch_steps == batch % epoch_steps
    ]


def jump_ratios(run: RunRecord, batch: int) -> list[float]:
    """For every point of `steps_after_batch`, the loss on the whole training set there divided
    by the higher of its values at the two neighbouring points."""
    history = run["history"]
    index = {step: i for i, step in enumerate(history["step"])}
    losses = history["train_loss"]
    return [
        losses[i] / max(losses[i - 1], losses[i + 1])
        for i in (index[step] for step in steps_after_batch(run, batch))
    ]


def accuracy_differences_from(
    reference: RunRecord, run: RunRecord, epoch: float, images: int
) -> list[Difference]:
    """The validation accuracy of ``reference`` minus that of ``run`` (on ``images`` images) at
    every validation point both reached, from ``epoch`` epochs of training on."""
    ours, theirs = reference["history"], run["history"]
    shared = min(len(ours["step"]), len(theirs["step"]))
    return [
        accuracy_difference(ours["val_accuracy"][i], images, theirs["val_accuracy"][i], images)
        for i in range(shared)
        if ours["epoch"][i] >= epoch
    ]


def score_at_restored_step(
    reference: RunRecord, run: RunRecord, split: str, images: int
) -> tuple[float, Difference]:
    """``reference``'s accuracy on ``split`` ("train" or "val") at the step whose weights ``run``
    restored (its last validation point up to it), and that accuracy minus ``run``'s, on
    ``images`` images."""
    accuracy = accuracy_at(reference, run["best_step"], split)
    return accuracy, accuracy_difference(accuracy, images, run[f"{split}_accuracy"], images)


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


def accuracy_at(run: RunRecord, step: int, split: str) -> float:
    """The accuracy of ``run`` on ``split`` ("train" or "val", the whole set) at its last
    validation point up to ``step``."""
    history = run["history"]
    before = [i for i, at in enumerate(history["step"]) if at <= step]
    if not before:
        raise NotComputableError(f"run {run['name']} has no validation point up to step {step}")
    return history[f"{split}_accuracy"][before[-1]]


def weights_at(run: RunRecord, step: int) -> dict[str, Any]:
    """What task4.py recorded of ``run``'s weights after ``step`` updates: their squared norm
    ("weight_norm") and template correlations ("template_correlation")."""
    for described in run["weights_at"]:
        if described["step"] == step:
            return described
    raise NotComputableError(f"run {run['name']} has no weights recorded at step {step}")


def template_correlations(weights: dict[str, Any]) -> list[float]:
    """Per digit, the correlation between the weights described (a run's record, or an entry
    of `weights_at`) and the digit's template (task4.template_correlations)."""
    correlations = weights["template_correlation"]
    if any(c is None for c in correlations):
        raise NotComputableError("a digit has no training images, or its weights are all equal")
    return correlations


def template_correlation_range(weights: dict[str, Any]) -> tuple[float, float]:
    """The smallest and the largest of `template_correlations`."""
    correlations = template_correlations(weights)
    return min(correlations), max(correlations)


def smallest_margin(weights: dict[str, Any], other: dict[str, Any]) -> float:
    """The smallest, over the digits, of how much more closely a digit's weights in ``weights``
    follow its template than in ``other`` (positive: more closely for every digit)."""
    pairs = zip(template_correlations(weights), template_correlations(other), strict=True)
    return min(a - b for a, b in pairs)


def error_rate(accuracy: float) -> float:
    """The share of the images a model classifies wrongly: one minus its accuracy."""
    return 1 - accuracy


def accuracy_se(accuracy: float, images: int) -> float:
    """sqrt(p (1 - p) / n): the standard error of an accuracy p measured on n images."""
    return math.sqrt(accuracy * (1 - accuracy) / images)


def exact(accuracy: float, images: int) -> Fraction | float:
    """An accuracy as the exact fraction correct/images it is, where it is one (a final
    accuracy: 3647/4000), so that a difference rounds as the fractions do; else unchanged (a
    mean over validation points)."""
    correct = round(accuracy * images)
    return Fraction(correct, images) if abs(correct / images - accuracy) < 1e-12 else accuracy


@dataclass(frozen=True)
class Difference:
    """a - b and the noise rule's threshold for it, twice the SE of the difference."""

    value: Fraction | float
    threshold: float

    @property
    def counts(self) -> bool:
        """Whether the difference is a finding: beyond the threshold."""
        return abs(self.value) > self.threshold

    @property
    def rises(self) -> bool:
        """Whether a is higher than b by a finding."""
        return self.counts and self.value > 0

    @property
    def narrowly(self) -> bool:
        """Whether it counts, but by less than a quarter of the threshold: a call that a rougher
        SE could turn."""
        return self.threshold < abs(self.value) < 1.25 * self.threshold


def accuracy_difference(a: float, a_images: int, b: float, b_images: int) -> Difference:
    """Accuracy a (on a_images) minus accuracy b (on b_images), with its threshold."""
    threshold = 2 * math.hypot(accuracy_se(a, a_images), accuracy_se(b, b_images))
    return Difference(exact(a, a_images) - exact(b, b_images), threshold)


def loss_difference(a: float, a_se: float, b: float, b_se: float) -> Difference:
    """Loss a minus loss b, whose standard errors are a_se and b_se, with its threshold."""
    return Difference(a - b, 2 * math.hypot(a_se, b_se))


def split_difference(a: RunRecord, b: RunRecord, split: str, images: int) -> Difference:
    """The accuracy of run ``a`` on ``split`` ("train", "val" or "test") minus that of run
    ``b``, both measured on the same ``images`` images."""
    key = f"{split}_accuracy"
    return accuracy_difference(a[key], images, b[key], images)


def largest_rise(losses: Sequence[float], se: float) -> Difference:
    """The largest amount by which a later value of ``losses`` (e.g. block means of a curve,
    each with the standard error ``se``) lies above an earlier one, with its threshold: a curve
    that never rises beyond noise has a largest rise that does not count or is negative."""
    rises = [b - a for i, a in enumerate(losses) for b in losses[i + 1 :]]
    return loss_difference(max(rises), se, 0.0, se)


def loss_range(losses: Sequence[float], se: float) -> Difference:
    """The highest minus the lowest of ``losses`` (each with the standard error ``se``): the
    values lie within noise of each other if it does not count."""
    return loss_difference(max(losses), se, min(losses), se)


def accuracy_range(accuracies: Sequence[float], images: int) -> Difference:
    """The highest minus the lowest of ``accuracies`` (each on ``images`` images): the values
    lie within noise of each other if it does not count."""
    return accuracy_difference(max(accuracies), images, min(accuracies), images)


def split_by_noise(
    reference: RunRecord, runs: Sequence[RunRecord], images: int
) -> tuple[list[RunRecord], list[RunRecord]]:
    """The ``runs`` whose validation accuracy lies within noise of ``reference``'s, and those
    beyond it."""
    beyond = [r for r in runs if split_difference(reference, r, "val", images).counts]
    return [r for r in runs if r not in beyond], beyond


def rises_beyond_noise(runs: Sequence[RunRecord], images: int) -> bool:
    """Whether any run scores higher than the one before it, beyond noise (validation)."""
    return any(
        (rise := split_difference(b, a, "val", images)).counts and rise.value > 0
        for a, b in pairwise(runs)
    )


def lambda_table(runs: Sequence[RunRecord]) -> str:
    """Task 4's table: per L2 strength, where the run stopped, the step whose weights it
    restored, and their accuracies, sum(w^2) and L2 norm (its square root)."""
    header = [r"$\lambda$", "Stopped after (epochs)", "Restored step", "Train acc.", "Val. acc.",
              "Test acc.", r"$\sum w^2$", r"$\lVert w \rVert$"]  # fmt: skip
    rows = [
        [
            l2_lambda(r),
            epochs(end_epochs(r), 1),
            integer(r["best_step"]),
            percent(r["train_accuracy"]),
            percent(r["val_accuracy"]),
            percent(r["test_accuracy"]),
            number(r["weight_norm"]),
            number(math.sqrt(r["weight_norm"])),
        ]
        for r in runs
    ]
    return table(header, rows, align="rrrrrrrr")


# ---------------------------------------------------------------- Task 5


def comparison_table(
    task3_run: RunRecord, softmax_runs: list[RunRecord], network_runs: list[RunRecord]
) -> str:
    """The appendix's table: softmax regression of Task 3, softmax regression on the network's
    inputs and training, and the network; accuracies as mean ± sd over the seeds where several."""

    def accuracy(runs: list[RunRecord], key: str) -> str:
        return spread([r[key] for r in runs])

    network = network_runs[0]
    stopping = "early stopping" if task3_run["early_stopping_patience"] else "no early stopping"
    rows = [
        ("Softmax (Task 3a)", f"pixels in [-1, 1]; SGD, $\\alpha = "
         f"{task3_run['learning_rate']:g}$, {stopping}", [task3_run]),
        ("Softmax", "as the network", softmax_runs),
        (f"Network ({network['hidden_units']} units)", "deskewed, centred, shifted; momentum, "
         f"weight decay, cosine from $\\alpha = {network['learning_rate']:g}$, "
         f"{network['epochs']} epochs", network_runs),
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
