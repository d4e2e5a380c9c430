"""The figures the task scripts share: style, loss and accuracy curves, stop markers, comparisons.

Importing this module sets the matplotlib style of every figure the scripts draw. Figures are
drawn at the size the report prints them (`TEXT_WIDTH` wide for two or three panels, about
`PANEL_WIDTH` for one), so that their text is printed at `FONT_SIZE` points. Legends go
under the panels, where they cannot hide a curve, and the axes show every point: losses on a
log scale and accuracies on a logit scale, so that the first steps and the plateau both show.
The x-axes count steps as the trainer does (`trainer.History`): step s is the weights after s
updates.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, Locator, NullFormatter

from experiment import Run

TEXT_WIDTH = 6.27  # inches: the width of the text of report.pdf (A4, margins of one inch)
PANEL_WIDTH = 0.56 * TEXT_WIDTH  # a figure of one panel, printed at 56 % of the text width
PANEL_HEIGHT = 2.7  # inches: a row of panels, with its title and the legend under it
SHORT_PANEL_HEIGHT = 2.4  # a row whose legend takes one line
FONT_SIZE = 8  # points, every text of every figure
STEP_LABEL = "step (updates done)"  # the x-axis of every curve over training
plt.rcParams.update(
    {
        "font.size": FONT_SIZE,
        "axes.titlesize": FONT_SIZE,
        "figure.titlesize": FONT_SIZE,
        "legend.fontsize": FONT_SIZE,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "lines.linewidth": 1.2,
        # The saved figure is cropped to its content plus this margin: about the margin that
        # the constrained layout leaves, so that the saved figure keeps the width drawn.
        "savefig.pad_inches": 0.04,
    }
)


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of each `window` consecutive values, one per full window: entry i averages
    values[i : i + window] and belongs to the last of them (none when there are fewer values)."""
    values = np.asarray(values, dtype=float)
    if len(values) < window:
        return values[:0]
    return np.convolve(values, np.ones(window) / window, mode="valid")


def titled_figure(
    title: str, panels: Sequence[str] = ("",), height: float = PANEL_HEIGHT
) -> tuple[plt.Figure, np.ndarray]:
    """A titled figure with one panel per entry of `panels` (their titles), side by side: one
    panel is PANEL_WIDTH wide, more share TEXT_WIDTH."""
    width = PANEL_WIDTH if len(panels) == 1 else TEXT_WIDTH
    fig, axes = plt.subplots(
        1, len(panels), figsize=(width, height), squeeze=False, layout="constrained"
    )
    set_title(fig, title)
    for ax, panel in zip(axes[0], panels, strict=True):
        ax.set_title(panel)
    return fig, axes[0]


def set_title(fig: plt.Figure, title: str) -> None:
    """The figure's title; a line too long for the figure is wrapped (a character is about
    0.55 em wide). Titles put what is shown on the first line and the settings on the next."""
    fits = int(fig.get_figwidth() * 72 / (0.55 * FONT_SIZE))
    fig.suptitle("\n".join(textwrap.fill(line, fits) for line in title.split("\n")))


def legend_below(fig: plt.Figure, columns: int = 1) -> None:
    """One legend for all panels, under them, where it hides no curve: each label once, the
    lines of one colour (one data set, such as the training set) together."""
    entries: dict[str, Line2D] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    colours = list(dict.fromkeys(to_hex(line.get_color()) for line in entries.values()))
    ordered = sorted(entries.items(), key=lambda entry: colours.index(to_hex(entry[1].get_color())))
    labels, handles = zip(*ordered, strict=True)
    fig.legend(handles, labels, loc="outside lower center", ncols=columns)


def log_axis(ax: plt.Axes) -> None:
    """A log y-axis, its ticks written as decimals: the powers of ten, and between them 2 and
    5 times them (and 3 times, when the axis spans less than a factor of 30)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: _minor_label(ax, value)))
    _name_hidden_points(ax, lambda y: y <= 0, "at 0")


def _minor_label(ax: plt.Axes, value: float) -> str:
    low, high = ax.get_ylim()
    digits = (2, 3, 5) if high / low < 30 else (2, 5)
    leading = round(value / 10 ** np.floor(np.log10(value)))
    return f"{value:g}" if leading in digits else ""


def logit_axis(ax: plt.Axes) -> None:
    """A logit y-axis for accuracies: 0.5, 0.9, 0.99 and 0.999 equally spaced, so that a drop
    to 0.5 and the differences between 0.96 and 0.97 both show."""
    ax.set_yscale("logit")
    ax.yaxis.set_major_locator(AccuracyTicks())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    _name_hidden_points(ax, lambda y: (y <= 0) | (y >= 1), "at 0 or 1")


def _name_hidden_points(
    ax: plt.Axes, hidden: Callable[[np.ndarray], np.ndarray], what: str
) -> None:
    """Say in the y-axis label how many points of the curves drawn so far the scale cannot show
    (a loss of 0 on a log axis, an accuracy of 1 on a logit axis): none goes missing unsaid."""
    count = sum(
        int(np.count_nonzero(hidden(np.asarray(line.get_ydata(), dtype=float))))
        for line in ax.get_lines()
        if line.get_transform() is ax.transData  # not the vertical markers, drawn across the axis
    )
    if count:
        ax.set_ylabel(f"{ax.get_ylabel()}\n{count} points {what} not drawn")


class AccuracyTicks(Locator):
    """Ticks at round accuracies on a logit axis, from the top down, each at least a sixth of
    the axis below the one above it, so that their labels never overlap; on a short axis,
    where the round ones give fewer than three ticks, at less round ones too."""

    ROUND = (0.999, 0.995, 0.99, 0.98, 0.97, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
    FINER = tuple(sorted({*ROUND, 0.96, 0.94, 0.93, 0.92, 0.85, 0.75, 0.65}, reverse=True))

    def __call__(self) -> list[float]:
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin: float, vmax: float) -> list[float]:
        low, high = _logit(vmin), _logit(vmax)
        for candidates in (self.ROUND, self.FINER):
            ticks: list[float] = []
            for tick in candidates:
                inside = low <= _logit(tick) <= high
                if inside and (not ticks or _logit(ticks[-1]) - _logit(tick) >= (high - low) / 6):
                    ticks.append(tick)
            if len(ticks) >= 3:
                break
        return ticks


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


# One style per curve, the same in every panel, so that a legend entry names one curve: the
# whole training set blue, the whole validation set orange, the training batches grey (each
# batch faint, their mean over the last epoch dashed).
# The whole training set also has a dot at each validation point: where the batches' mean runs
# close over it, the dots still show it.
WHOLE_TRAINING = {"color": "C0", "marker": "o", "markersize": 1.6, "label": "training (whole set)"}
WHOLE_VALIDATION = {"color": "C1", "label": "validation (whole set)"}


def plot_loss(ax: plt.Axes, run: Run) -> None:
    """The loss of each training batch (faint grey) and its mean over the last epoch's batches
    (grey, dashed; from the end of the first epoch), and the loss on the whole training and
    validation sets at the validation points, on a log scale. An epoch-long window averages out
    what repeats every epoch, such as the pattern of the batches when the data are not shuffled."""
    history = run.record["history"]
    losses = np.asarray(history["batch_loss"], dtype=float)
    steps = np.arange(len(losses))  # batch_loss[s]: the batch loss at step s
    window = run.record["steps_per_epoch"]
    ax.plot(steps, losses, color="0.55", alpha=0.5, linewidth=0.8, label="training (each batch)")
    ax.plot(
        steps[window - 1 :],  # from the end of the first epoch: a full epoch in every mean
        trailing_mean(losses, window),
        color="0.25",
        linestyle="--",
        zorder=3,  # over the whole-set training loss, which it can follow closely
        label=f"training (batches, mean of the last {window}: one epoch)",
    )
    ax.plot(history["step"], history["train_loss"], **WHOLE_TRAINING)
    ax.plot(history["step"], history["val_loss"], **WHOLE_VALIDATION)
    ax.set(xlabel=STEP_LABEL, ylabel="cross-entropy loss (log scale)")
    log_axis(ax)


def plot_accuracy(ax: plt.Axes, run: Run, from_epoch: float | None = None) -> None:
    """Training and validation accuracy at each validation point, on a logit scale; with
    `from_epoch`, only the points from that epoch on, on a linear scale (a zoom on the late,
    small changes that the first steps' rise would squeeze into a thin strip)."""
    history = run.record["history"]
    shown = [
        i for i, epoch in enumerate(history["epoch"]) if from_epoch is None or epoch >= from_epoch
    ]
    steps = [history["step"][i] for i in shown]
    for key, style in (("train_accuracy", WHOLE_TRAINING), ("val_accuracy", WHOLE_VALIDATION)):
        ax.plot(steps, [history[key][i] for i in shown], **style)
    if from_epoch is None:
        ax.set(xlabel=STEP_LABEL, ylabel="accuracy (logit scale)")
        logit_axis(ax)
    else:
        ax.set(xlabel=STEP_LABEL, ylabel="accuracy")


def mark_stop(ax: plt.Axes, run: Run) -> None:
    """A vertical line where early stopping stopped, and one at the restored best step."""
    record = run.record
    if record["stopped_at_step"] is not None:
        ax.axvline(
            record["stopped_at_step"],
            color="C3",
            linestyle="--",
            label=f"early stop (step {record['stopped_at_step']})",
        )
    if record["early_stopping_patience"] is not None:
        ax.axvline(
            record["best_step"],
            color="C2",
            linestyle=":",
            label=f"restored weights (step {record['best_step']})",
        )


def loss_and_accuracy(
    title: str, run: Run, stopped: Run | None = None, zoom_from_epoch: float | None = None
) -> plt.Figure:
    """Loss (left) and accuracy (right) of ``run`` during training. With ``stopped``, a run with
    early stopping that took the same steps, lines mark where it stopped and what it restored.
    With ``zoom_from_epoch``, a third panel shows the accuracies from that epoch on."""
    panels = ["Loss", "Accuracy"]
    if zoom_from_epoch is not None:
        panels.append(f"Accuracy from epoch {zoom_from_epoch:g} on (linear axis)")
    fig, axes = titled_figure(title, panels)
    plot_loss(axes[0], run)
    plot_accuracy(axes[1], run)
    if zoom_from_epoch is not None:
        plot_accuracy(axes[2], run, from_epoch=zoom_from_epoch)
    if stopped is not None:
        for ax in axes:
            mark_stop(ax, stopped)
    legend_below(fig, columns=2)
    return fig


# compare_runs' colours name the runs, the panels the sets: the runs first take colours that no
# set of the other figures uses (brown, purple, green), so that a run is not read as a set.
COMPARISON_COLOURS = ("C5", "C4", "C2", "C1")

# compare_runs' panels: what each shows, its title and its scale.
COMPARED = (
    ("val_loss", "Validation loss", "cross-entropy loss (log scale)"),
    ("train_loss", "Training loss (whole set)", "cross-entropy loss (log scale)"),
    ("val_accuracy", "Validation accuracy", "accuracy (logit scale)"),
)


def compare_runs(title: str, runs: dict[str, Run]) -> plt.Figure:
    """The validation loss, the loss on the whole training set and the validation accuracy of
    several runs, side by side, one line per run."""
    panels = [panel for _, panel, _ in COMPARED]
    fig, axes = titled_figure(title, panels, height=SHORT_PANEL_HEIGHT)  # one legend row
    for ax, (key, _, label) in zip(axes, COMPARED, strict=True):
        for (name, run), colour in zip(runs.items(), COMPARISON_COLOURS, strict=False):
            history = run.record["history"]
            ax.plot(history["step"], history[key], color=colour, label=name)
        ax.set(xlabel=STEP_LABEL, ylabel=label)
        (logit_axis if key.endswith("accuracy") else log_axis)(ax)
    legend_below(fig, columns=len(runs))
    return fig


def plot_overfitting(title: str, run: Run, zoom_from_epoch: float) -> plt.Figure:
    """Loss on the whole training and validation sets over the whole run (left, log scale) and
    from `zoom_from_epoch` on (right, linear scale, where a slow rise would show).

    A validation loss that rises while the training loss keeps falling is overfitting; the
    dotted line marks where the validation loss was lowest.
    """
    history = run.record["history"]
    best_step = run.record["best_step"]
    panels = ("Loss (whole sets)", f"Loss from epoch {zoom_from_epoch:g} on (linear axis)")
    fig, axes = titled_figure(title, panels, height=SHORT_PANEL_HEIGHT)
    later = [i for i, epoch in enumerate(history["epoch"]) if epoch >= zoom_from_epoch]
    for ax, shown in zip(axes, (range(len(history["step"])), later), strict=True):
        steps = [history["step"][i] for i in shown]
        ax.plot(steps, [history["train_loss"][i] for i in shown], **WHOLE_TRAINING)
        ax.plot(steps, [history["val_loss"][i] for i in shown], **WHOLE_VALIDATION)
        ax.axvline(
            best_step, color="C2", linestyle=":", label=f"lowest validation loss (step {best_step})"
        )
        ax.set(xlabel=STEP_LABEL, ylabel="cross-entropy loss")
    axes[0].set_ylabel("cross-entropy loss (log scale)")
    log_axis(axes[0])
    legend_below(fig, columns=3)
    return fig
