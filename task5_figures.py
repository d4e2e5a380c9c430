"""Task 5's figures: training curves with the learning rate, the test confusion matrix, the
misclassified test digits, and shifted training digits (task5.py draws them from its runs)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import PowerNorm

import plots
from dataloaders import IMAGE_PIXELS, IMAGE_SIDE, Splits
from experiment import Run
from image_transforms import shift_images
from task5_trainer import learning_rate_at

MISCLASSIFIED_GRID = (3, 8)  # rows, columns of task5_misclassified.png
AUGMENTED_GRID = (4, 6)  # digits, shifted copies of each in task5_augmented.png


def draw_figures(final: Run, data: Splits, test_outputs: np.ndarray, confusion: np.ndarray) -> list:
    """The curves of `final`, its confusion matrix and its mistakes on the test split.

    `data` holds the images as pre-processed, before deskewing, for display.
    """
    r = final.record
    schedule = "cosine decay" if r["cosine_decay"] else "constant"
    what = (
        f"{r['hidden_units']} hidden ReLU units, lr {r['learning_rate']:g} ({schedule}), batch "
        f"{r['batch_size']}, momentum {r['momentum']:g}, λ {r['l2_lambda']:g}, "
        f"shifts ≤ {r['max_shift']} px"
    )
    curves, (loss_ax, accuracy_ax, rate_ax) = plt.subplots(
        1,
        3,
        figsize=(plots.TEXT_WIDTH, plots.PANEL_HEIGHT),
        width_ratios=(2, 2, 1.3),
        layout="constrained",
    )
    plots.set_title(curves, f"Appendix (task5.py): training curves of the network\n{what}")
    panels = {"Loss": loss_ax, "Accuracy": accuracy_ax, "Learning rate": rate_ax}
    for title, ax in panels.items():
        ax.set_title(title)
    plots.plot_loss(loss_ax, final)
    plots.plot_accuracy(accuracy_ax, final)
    plot_learning_rate(rate_ax, final)
    plots.legend_below(curves, columns=2)
    return [
        (curves, "task5_curves.png"),
        (plot_confusion(confusion), "task5_confusion.png"),
        (plot_misclassified(data.X_test, data.Y_test, test_outputs), "task5_misclassified.png"),
    ]


def plot_learning_rate(ax: plt.Axes, run: Run) -> None:
    """The learning rate of every update of `run`, as Task5Trainer set it, at the step its
    update starts from (0 to steps - 1)."""
    r = run.record
    total_steps = r["epochs"] * r["steps_per_epoch"]
    steps = range(r["steps"])
    rates = [
        learning_rate_at(step, total_steps, r["learning_rate"], r["cosine_decay"]) for step in steps
    ]
    ax.plot(steps, rates, color="C2")
    ax.set(xlabel=plots.STEP_LABEL, ylabel="learning rate", ylim=(0, 1.05 * r["learning_rate"]))


def plot_augmented(inputs: tuple[Splits, np.ndarray], max_shift: int) -> plt.Figure:
    """The first training digits as the network reads them before centring (deskewed if the
    inputs are), and copies shifted as the batches shift them, each titled with its offset."""
    (data, mean_image), (rows, copies) = inputs, AUGMENTED_GRID
    images = data.X_train[:rows] + mean_image  # undo the centring, for display
    offsets = np.random.default_rng(0).integers(-max_shift, max_shift + 1, size=(copies, 2, rows))
    shifted = [shift_images(images, dy, dx) for dy, dx in offsets]
    width = 0.7 * plots.TEXT_WIDTH  # printed at 70 % of the text width
    fig, axes = plt.subplots(
        rows, copies + 1, figsize=(width, 0.72 * rows + 0.45), layout="constrained"
    )
    unit = "pixel" if max_shift == 1 else "pixels"
    plots.set_title(
        fig,
        f"Task 5: training digits and random shifts of up to {max_shift} {unit}\n"
        "(↓ pixels down, → pixels right)",
    )
    for row in range(rows):
        panels = [(images[row], "input")]
        panels += [
            (copy[row], f"↓{dy[row]:+d} →{dx[row]:+d}")
            for copy, (dy, dx) in zip(shifted, offsets, strict=True)
        ]
        for ax, (image, title) in zip(axes[row], panels, strict=True):
            pixels = image[:IMAGE_PIXELS].reshape(IMAGE_SIDE, IMAGE_SIDE)
            ax.imshow(pixels, cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def confusion_matrix(targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """counts[i, j]: samples of true class i predicted as class j (the argmax of outputs).

    targets: one-hot [N, K]; outputs: class probabilities [N, K]. Returns int [K, K].
    """
    counts = np.zeros((targets.shape[1], targets.shape[1]), dtype=np.int64)
    np.add.at(counts, (targets.argmax(axis=1), outputs.argmax(axis=1)), 1)
    return counts


def plot_confusion(counts: np.ndarray) -> plt.Figure:
    """The confusion matrix with its counts in the cells, shaded on a power-law scale that
    keeps the few errors visible next to the thousand-odd correct answers per digit (the
    counts are written in the cells, so no colour bar is needed)."""
    total = int(counts.sum())
    fig, ax = plt.subplots(figsize=(plots.PANEL_WIDTH, 3.8), layout="constrained")
    norm = PowerNorm(gamma=0.3, vmin=0, vmax=max(int(counts.max()), 1))
    ax.imshow(counts, cmap="Blues", norm=norm)
    for (true, predicted), count in np.ndenumerate(counts):
        colour = "white" if norm(count) > 0.6 else "black"
        ax.text(predicted, true, str(count), ha="center", va="center", color=colour)
    ticks = range(len(counts))
    ax.set(xticks=ticks, yticks=ticks, xlabel="predicted digit", ylabel="true digit")
    ax.grid(False)
    plots.set_title(
        fig,
        f"Task 5: confusion matrix on the test set\n{total:,} images, "
        f"{np.trace(counts) / total:.2%} correct, {total - int(np.trace(counts))} errors",
    )
    return fig


def plot_misclassified(X: np.ndarray, targets: np.ndarray, outputs: np.ndarray) -> plt.Figure:
    """The first misclassified images in test order, titled with true and predicted digit and
    the predicted probability. X: pre-processed images [N, 785]."""
    rows, columns = MISCLASSIFIED_GRID
    true, predicted = targets.argmax(axis=1), outputs.argmax(axis=1)
    wrong = np.flatnonzero(true != predicted)
    fig, axes = plt.subplots(
        rows, columns, figsize=(1.45 * columns, 1.75 * rows + 0.5), layout="constrained"
    )
    fig.suptitle(
        f"Task 5: the first {min(len(wrong), rows * columns)} of the {len(wrong)} misclassified "
        "test digits (images before deskewing)"
    )
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, index in zip(axes.flat, wrong, strict=False):
        image = X[index, :IMAGE_PIXELS].reshape(IMAGE_SIDE, IMAGE_SIDE)
        ax.imshow(image, cmap="gray_r", interpolation="nearest")
        ax.set_title(
            f"true {true[index]}\npredicted {predicted[index]} "
            f"({outputs[index, predicted[index]]:.0%})",
            fontsize=9,
        )
    return fig
