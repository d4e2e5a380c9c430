"""Task 4: L2 regularisation of softmax regression, for lambda in {0, 0.002, 0.02, 0.2, 2}.

Each run shuffles and stops early, as in task 3. Figures: the weights as images for lambda 0
and 2 (4b), validation accuracy per lambda (4c), and the squared L2 norm of the weights (4e).
"""

from __future__ import annotations

import require_python  # noqa: F401 (first: an older Python stops here, in one line)

# isort: split

import matplotlib.pyplot as plt
import numpy as np

import plots
import utils
from dataloaders import IMAGE_PIXELS, load_full_mnist
from experiment import Run
from softmax_regression import NUM_CLASSES
from task3 import EARLY_STOPPING_PATIENCE, train_softmax

LAMBDAS = (0.0, 0.002, 0.02, 0.2, 2.0)


def weight_norm(w: np.ndarray) -> float:
    """sum(w^2) over the pixel weights, the bias row left out."""
    return float(np.sum(w[:IMAGE_PIXELS].astype(np.float64) ** 2))


def main(argv: list[str] | None = None) -> None:
    parser = utils.make_parser(__doc__, learning_rate=0.01, batch_size=128, epochs=50)
    args = parser.parse_args(argv)
    folders = utils.prepare_outputs(args)
    settings = utils.settings_from_args(args)
    data = utils.prepare_data(parser, args, load_full_mnist, num_classes=NUM_CLASSES)
    runs = {}
    for l2_lambda in LAMBDAS:
        run = train_softmax(
            f"lambda_{l2_lambda:g}", data, settings, l2_lambda, EARLY_STOPPING_PATIENCE
        )
        run.record["weight_norm"] = weight_norm(run.model.w)
        runs[l2_lambda] = run
    utils.finish("task4", folders, draw_figures(runs), list(runs.values()), args)


def draw_figures(runs: dict[float, Run]) -> list:
    return [
        (plot_weights({0.0: runs[0.0], 2.0: runs[2.0]}), "task4b_weights.png"),
        (plot_validation_accuracy(runs), "task4c_val_accuracy.png"),
        (plot_weight_norms(runs), "task4e_l2_norm.png"),
    ]


def plot_weights(runs: dict[float, Run]) -> plt.Figure:
    """One row of ten 28x28 weight images per lambda, each row on its own symmetric colour scale."""
    fig, axes = plt.subplots(
        len(runs),
        NUM_CLASSES,
        figsize=(13, 1.6 * len(runs) + 0.8),
        squeeze=False,
        layout="constrained",
    )
    fig.suptitle("Task 4b: softmax weights per digit (red positive, blue negative)")
    for row, (l2_lambda, run) in zip(axes, runs.items(), strict=True):
        pixels = run.model.w[:IMAGE_PIXELS]
        limit = float(np.abs(pixels).max()) or 1.0
        for digit, ax in enumerate(row):
            image = ax.imshow(
                pixels[:, digit].reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit
            )
            ax.set(xticks=[], yticks=[], title=str(digit))
            ax.grid(False)
        row[0].set_ylabel(f"λ = {l2_lambda:g}", fontsize=12)
        fig.colorbar(image, ax=list(row), shrink=0.9, pad=0.01)
    return fig


def plot_validation_accuracy(runs: dict[float, Run]) -> plt.Figure:
    """Validation accuracy against step for each lambda (lambda = 0 dashed): every run on the
    left, and on the right the same curves zoomed on the three smallest lambdas."""
    fig, axes = plots.titled_figure(
        "Task 4c: validation accuracy of softmax regression per λ",
        ("All runs", "Zoomed on the three smallest λ"),
    )
    for ax in axes:
        for index, (l2_lambda, run) in enumerate(sorted(runs.items(), reverse=True)):
            dashed = {"color": "grey", "linestyle": "--"}
            style = dashed if l2_lambda == 0 else {"color": f"C{index}"}
            steps, accuracies = plots.series(run.val_history["accuracy"])
            ax.plot(steps, accuracies, label=f"λ = {l2_lambda:g}", **style)
        ax.set(xlabel="training step", ylabel="validation accuracy")
        ax.legend()
    settled = [a for run in runs.values() for a in _accuracies_from(run, epochs=1)]
    axes[0].set_ylim(min(settled) - 0.01, max(settled) + 0.005)
    smallest = [runs[l2_lambda] for l2_lambda in sorted(runs)[:3]]
    axes[1].set_ylim(
        min(_accuracies_from(run, epochs=5)[0] for run in smallest) - 0.01,
        max(max(run.record["history"]["val_accuracy"]) for run in smallest) + 0.002,
    )
    return fig


def _accuracies_from(run: Run, epochs: float) -> list[float]:
    """The validation accuracies of `run` from `epochs` epochs of training on (all of them, if
    the run was shorter)."""
    history = run.record["history"]
    pairs = zip(history["epoch"], history["val_accuracy"], strict=True)
    return [accuracy for epoch, accuracy in pairs if epoch >= epochs] or history["val_accuracy"]


def plot_weight_norms(runs: dict[float, Run]) -> plt.Figure:
    """sum(w^2) against lambda on a log axis, with lambda = 0 as a horizontal line."""
    fig, (ax,) = plots.titled_figure(
        "Task 4e: squared L2 norm of the weights (bias excluded) per λ"
    )
    positive = sorted(l2_lambda for l2_lambda in runs if l2_lambda > 0)
    norms = [runs[l2_lambda].record["weight_norm"] for l2_lambda in positive]
    ax.plot(positive, norms, marker="o", label="λ > 0")
    ax.axhline(runs[0.0].record["weight_norm"], color="grey", linestyle="--", label="λ = 0")
    ax.set(xscale="log", xlabel="λ (log scale)", ylabel="Σ w² (bias excluded)")
    ax.legend()
    return fig


if __name__ == "__main__":
    utils.run_main(main)
