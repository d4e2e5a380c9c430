"""The figures the task scripts share: style, loss and accuracy curves, stop markers, comparisons.

Importing this module sets the matplotlib style of every figure the scripts draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from experiment import Run

plt.rcParams.update(
    {"font.size": 11, "axes.grid": True, "grid.alpha": 0.3, "legend.framealpha": 0.9}
)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over `window` samples (shorter at the start, so it keeps the length)."""
    cumulative = np.cumsum(np.insert(np.asarray(values, dtype=float), 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    ends = np.arange(1, len(values) + 1)
    return (cumulative[ends] - cumulative[ends - counts]) / counts


def titled_figure(title: str, panels: Sequence[str] = ("",)) -> tuple[plt.Figure, np.ndarray]:
    """A titled figure with one panel per entry of `panels` (their titles), side by side."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    fig.suptitle(title)
    for ax, panel in zip(axes[0], panels, strict=True):
        ax.set_title(panel)
    return fig, axes[0]


def zoom(ax: plt.Axes, values: Sequence[float], accuracy: bool) -> None:
    """Limit the y-axis to the settled part of a curve, so the first steps do not flatten it.

    The limit is three times the median distance from the best value (0 for a loss, 1 for an
    accuracy): the plateau and its spikes stay in view, the initial transient is cut.
    """
    settled = float(np.median(values))
    if accuracy:
        ax.set_ylim(max(0.0, 1 - 3 * (1 - settled)), 1.0)
    else:
        ax.set_ylim(0.0, 3 * settled)


def plot_loss(ax: plt.Axes, run: Run, label: str = "") -> None:
    """Training loss per step (faint raw, and its moving average over one epoch) and validation
    loss. An epoch-long window averages out what repeats every epoch, such as the pattern of
    the batches when the data are not shuffled."""
    steps = np.fromiter(run.train_history["loss"], dtype=int)
    losses = np.fromiter(run.train_history["loss"].values(), dtype=float)
    window = _steps_per_epoch(run)
    ax.plot(steps, losses, color="C0", alpha=0.25, linewidth=0.8, label=f"{label}training (batch)")
    ax.plot(
        steps,
        smooth(losses, window),
        color="C0",
        label=f"{label}training (moving average over one epoch, {window} steps)",
    )
    ax.plot(*series(run.val_history["loss"]), color="C1", linewidth=1.8, label=f"{label}validation")
    ax.set(xlabel="training step", ylabel="cross-entropy loss")
    zoom(ax, list(run.val_history["loss"].values()), accuracy=False)
    ax.legend()


def plot_accuracy(ax: plt.Axes, run: Run) -> None:
    """Training and validation accuracy at each validation point."""
    ax.plot(*series(run.train_history["accuracy"]), color="C0", label="training")
    ax.plot(*series(run.val_history["accuracy"]), color="C1", label="validation")
    ax.set(xlabel="training step", ylabel="accuracy")
    zoom(ax, list(run.val_history["accuracy"].values()), accuracy=True)
    ax.legend()


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
            label=f"best validation loss (step {record['best_step']}), restored",
        )
    ax.legend()


def series(history: dict[int, float]) -> tuple[list[int], list[float]]:
    """The steps and values of a history, for plotting."""
    return list(history), list(history.values())


def _steps_per_epoch(run: Run) -> int:
    history = run.record["history"]
    if history["epoch"][-1] == 0:
        return 1
    return round(history["step"][-1] / history["epoch"][-1])


def compare_validation(title: str, runs: dict[str, Run]) -> plt.Figure:
    """Validation loss and accuracy of several runs, side by side, one line per run."""
    fig, (loss_ax, accuracy_ax) = titled_figure(title, ("Validation loss", "Validation accuracy"))
    for label, run in runs.items():
        loss_ax.plot(*series(run.val_history["loss"]), label=label)
        accuracy_ax.plot(*series(run.val_history["accuracy"]), label=label)
    loss_ax.set(xlabel="training step", ylabel="cross-entropy loss")
    accuracy_ax.set(xlabel="training step", ylabel="accuracy")
    first = next(iter(runs.values()))
    zoom(loss_ax, list(first.val_history["loss"].values()), accuracy=False)
    zoom(accuracy_ax, list(first.val_history["accuracy"].values()), accuracy=True)
    loss_ax.legend()
    accuracy_ax.legend()
    return fig


def plot_overfitting(title: str, run: Run) -> plt.Figure:
    """Loss and accuracy on the whole training and validation sets, with the best validation.

    A validation loss that rises while the training loss keeps falling is overfitting; the
    dotted line marks where the validation loss was lowest.
    """
    history = run.record["history"]
    best_step = history["step"][int(np.argmin(history["val_loss"]))]
    fig, axes = titled_figure(title, ("Loss (whole sets)", "Accuracy (whole sets)"))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(history["step"], history[f"train_{metric}"], label="training")
        ax.plot(history["step"], history[f"val_{metric}"], label="validation")
        ax.axvline(
            best_step, color="C2", linestyle=":", label=f"lowest validation loss (step {best_step})"
        )
        ax.set(xlabel="training step", ylabel="cross-entropy loss" if metric == "loss" else metric)
        zoom(ax, history[f"val_{metric}"], accuracy=metric == "accuracy")
        ax.legend()
    return fig
