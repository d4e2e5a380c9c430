"""Helpers shared by the task scripts: gradient checking, the command line, output files, plots."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import matplotlib.pyplot as plt
import numpy as np

from dataloaders import MNISTError, Splits, one_hot_encode, pre_process_images
from trainer import Model, Run, Settings, TrainingDivergedError

REPO = Path(__file__).resolve().parent

# Central differences: (J(w + eps) - J(w - eps)) / (2 eps) has error O(eps^2) from the Taylor
# series and O(machine_eps / eps) from rounding; in float64, eps = 1e-5 balances the two.
GRADIENT_CHECK_EPSILON = 1e-5
GRADIENT_CHECK_TOLERANCE = 1e-6  # largest relative error accepted (see relative_error)

TRAINING_DTYPE = np.float32  # default of --dtype: twice as fast as float64
QUICK_SPLIT_SIZES = (1000, 300, 300)  # train, validation, test samples for --quick
QUICK_EPOCHS = 3


# ---------------------------------------------------------------- gradient checking


def numerical_gradient(
    cost: Callable[[], float], w: np.ndarray, epsilon: float = GRADIENT_CHECK_EPSILON
) -> np.ndarray:
    """Central-difference estimate of d(cost)/dw, perturbing one entry of `w` at a time in place."""
    gradient = np.zeros_like(w, dtype=np.float64)
    for index in np.ndindex(w.shape):
        original = w[index]
        w[index] = original + epsilon
        cost_plus = cost()
        w[index] = original - epsilon
        cost_minus = cost()
        w[index] = original
        gradient[index] = (cost_plus - cost_minus) / (2 * epsilon)
    return gradient


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(max |a|, max |n|): the worst error relative to the gradient's scale.

    Scaling by the largest entry, not entry by entry, keeps entries that are nearly zero (whose
    own relative error is all rounding noise) from failing a correct gradient.
    """
    scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)), np.finfo(float).tiny)
    return float(np.max(np.abs(analytic - numeric)) / scale)


def gradient_check(model: Model, X: np.ndarray, targets: np.ndarray) -> list[float]:
    """Largest relative error between `backward`'s gradients and central differences.

    One value per parameter array. The cost differentiated is the model's loss plus its
    regularisation penalty, if it has one (`model.penalty()`), as `backward` computes.
    """

    def cost() -> float:
        penalty = model.penalty() if hasattr(model, "penalty") else 0.0
        return model.loss(targets, model.forward(X)) + penalty

    model.backward(X, model.forward(X), targets)
    analytic = [grad.copy() for grad in model.grads]
    return [
        relative_error(grad, numerical_gradient(cost, w))
        for w, grad in zip(model.ws, analytic, strict=True)
    ]


def safe_log(p: np.ndarray) -> np.ndarray:
    """ln(p), with p raised to the smallest normal float first: ln(0) would give -inf and NaN."""
    return np.log(np.maximum(p, np.finfo(p.dtype).tiny))


# ---------------------------------------------------------------- command line and data


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def make_parser(description: str, *, learning_rate: float, batch_size: int, epochs: int):
    """The flags every task script takes, with that task's defaults."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"number of epochs (default {epochs}; {QUICK_EPOCHS} with --quick)",
    )
    parser.add_argument(
        "--lr",
        type=_positive_float,
        default=learning_rate,
        help=f"learning rate (default {learning_rate})",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=batch_size,
        help=f"mini-batch size (default {batch_size})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for shuffling and initialisation")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder with the four MNIST files (default: $MNIST_DIR, else data/, else download)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small run on a subset that finishes in seconds (for tests)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=np.dtype(TRAINING_DTYPE).name,
        help="floating-point type for training (default %(default)s; float64 is slower and "
        "gives the same accuracies to within about 0.2 points)",
    )
    parser.add_argument("--show", action="store_true", help="open the figures when done")
    parser.set_defaults(default_epochs=epochs)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    epochs = args.epochs or (QUICK_EPOCHS if args.quick else args.default_epochs)
    return Settings(args.lr, args.batch_size, epochs, args.seed)


def prepare_data(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    load: Callable[..., Splits],
    num_classes: int | None,
) -> Splits:
    """Load a task's splits, pre-process the images and encode the targets.

    `num_classes` None keeps binary targets as a [N, 1] column, otherwise they are one-hot.
    All arrays are of the --dtype type, which the models take from X_train. With --quick
    only the first samples of each split are kept. Missing or bad data, or a batch larger
    than the training set, end the script with the reason.
    """
    try:
        raw = load(data_dir=args.data_dir)
    except MNISTError as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    dtype = np.dtype(args.dtype)
    arrays = []
    for split, size in zip(("train", "val", "test"), QUICK_SPLIT_SIZES, strict=True):
        X, Y = getattr(raw, f"X_{split}"), getattr(raw, f"Y_{split}")
        if args.quick:
            X, Y = X[:size], Y[:size]
        targets = Y.astype(dtype) if num_classes is None else one_hot_encode(Y, num_classes, dtype)
        arrays += [pre_process_images(X, dtype), targets]
    data = Splits(*arrays)
    if args.batch_size > len(data.X_train):
        parser.error(
            f"argument --batch-size: {args.batch_size} is larger than the training set "
            f"({len(data.X_train)} samples)"
        )
    return data


def run_main(main: Callable[[], None]) -> None:
    """Run a task's `main`, turning a diverged training into a one-line error."""
    try:
        main()
    except TrainingDivergedError as exc:
        sys.exit(f"{Path(sys.argv[0]).name}: error: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)


# ---------------------------------------------------------------- output files


def figures_dir() -> Path:
    """Where figures go: $FIGURES_DIR, else figures/ beside this file."""
    return Path(os.environ.get("FIGURES_DIR") or REPO / "figures")


def results_dir() -> Path:
    """Where metrics go: $RESULTS_DIR, else results/ beside this file."""
    return Path(os.environ.get("RESULTS_DIR") or REPO / "results")


def _new_file_mode() -> int:
    """Permissions of a newly created file: 0666 minus the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


NEW_FILE_MODE = _new_file_mode()


@contextmanager
def atomic_write(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; it replaces `path` only when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, NEW_FILE_MODE)  # mkstemp makes the file private (0600)
        with os.fdopen(fd, mode) as file:
            yield file
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def save_figure(fig: plt.Figure, filename: str) -> Path:
    """Write `fig` as PNG into the figures folder, atomically."""
    path = figures_dir() / filename
    with atomic_write(path, "wb") as file:
        fig.savefig(file, format="png", dpi=150, bbox_inches="tight")
    return path


def write_results(task: str, runs: Sequence[Run]) -> Path:
    """Write {"runs": [record, ...]} to results/<task>.json, atomically."""
    path = results_dir() / f"{task}.json"
    with atomic_write(path) as file:
        json.dump({"runs": [run.record for run in runs]}, file, indent=1)
        file.write("\n")
    return path


def print_summary(runs: Sequence[Run]) -> None:
    """A table of the final metrics of each run ("-" for a test split left unread)."""
    width = max(20, *(len(run.record["name"]) + 2 for run in runs))
    header = f"{'run':<{width}}{'steps':>7}{'stopped':>9}  {'train acc':>9}{'val acc':>9}"
    print(header + f"{'test acc':>9}{'test loss':>10}{'seconds':>9}")
    for run in runs:
        r = run.record
        stopped = "-" if r["stopped_at_step"] is None else str(r["stopped_at_step"])
        tested = r["test_accuracy"] is not None
        test_accuracy = f"{r['test_accuracy']:.2%}" if tested else "-"
        test_loss = f"{r['test_loss']:.4f}" if tested else "-"
        print(
            f"{r['name']:<{width}}{r['steps']:>7}{stopped:>9}  {r['train_accuracy']:>9.2%}"
            f"{r['val_accuracy']:>9.2%}{test_accuracy:>9}{test_loss:>10}{r['seconds']:>9.1f}"
        )


def finish(figures: Sequence[tuple[plt.Figure, str]], task: str, runs: Sequence[Run], show: bool):
    """Save the figures and results, print where they went and the summary."""
    for fig, filename in figures:
        print(f"wrote {save_figure(fig, filename)}")
    print(f"wrote {write_results(task, runs)}")
    print_summary(runs)
    if show:
        plt.show()
    plt.close("all")


# ---------------------------------------------------------------- plots

plt.rcParams.update(
    {"font.size": 11, "axes.grid": True, "grid.alpha": 0.3, "legend.framealpha": 0.9}
)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over `window` samples (shorter at the start, so it keeps the length)."""
    cumulative = np.cumsum(np.insert(np.asarray(values, dtype=float), 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    ends = np.arange(1, len(values) + 1)
    return (cumulative[ends] - cumulative[ends - counts]) / counts


def figure(title: str, panels: Sequence[str] = ("",)) -> tuple[plt.Figure, np.ndarray]:
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
    """Training loss per step (faint raw, smoothed over an epoch's fifth) and validation loss."""
    steps = np.fromiter(run.train_history["loss"], dtype=int)
    losses = np.fromiter(run.train_history["loss"].values(), dtype=float)
    window = _steps_per_validation(run)
    ax.plot(steps, losses, color="C0", alpha=0.25, linewidth=0.8, label=f"{label}training (batch)")
    ax.plot(
        steps,
        smooth(losses, window),
        color="C0",
        label=f"{label}training (moving average, {window} steps)",
    )
    ax.plot(
        *_series(run.val_history["loss"]), color="C1", linewidth=1.8, label=f"{label}validation"
    )
    ax.set(xlabel="training step", ylabel="cross-entropy loss")
    zoom(ax, list(run.val_history["loss"].values()), accuracy=False)
    ax.legend()


def plot_accuracy(ax: plt.Axes, run: Run) -> None:
    """Training and validation accuracy at each validation point."""
    ax.plot(*_series(run.train_history["accuracy"]), color="C0", label="training")
    ax.plot(*_series(run.val_history["accuracy"]), color="C1", label="validation")
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
            label=f"early stop (step {record['stopped_at_step']}, "
            f"epoch {record['stopped_at_epoch']})",
        )
    if record["early_stopping_patience"] is not None:
        ax.axvline(
            record["best_step"],
            color="C2",
            linestyle=":",
            label=f"best validation loss (step {record['best_step']}), restored",
        )
    ax.legend()


def _series(history: dict[int, float]) -> tuple[list[int], list[float]]:
    return list(history), list(history.values())


def _steps_per_validation(run: Run) -> int:
    steps = run.record["history"]["step"]
    return steps[1] - steps[0] if len(steps) > 1 else 1


def compare_validation(title: str, runs: dict[str, Run]) -> plt.Figure:
    """Validation loss and accuracy of several runs, side by side, one line per run."""
    fig, (loss_ax, accuracy_ax) = figure(title, ("Validation loss", "Validation accuracy"))
    for label, run in runs.items():
        loss_ax.plot(*_series(run.val_history["loss"]), label=label)
        accuracy_ax.plot(*_series(run.val_history["accuracy"]), label=label)
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
    fig, axes = figure(title, ("Loss (whole sets)", "Accuracy (whole sets)"))
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
