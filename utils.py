"""What the task scripts share: the command line, loading the data, and writing the outputs."""

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
from experiment import Run, Settings
from trainer import TrainingDivergedError

REPO = Path(__file__).resolve().parent


TRAINING_DTYPE = np.float32  # default of --dtype: twice as fast as float64
QUICK_SPLIT_SIZES = (1000, 300, 300)  # train, validation, test samples for --quick
QUICK_EPOCHS = 3


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
