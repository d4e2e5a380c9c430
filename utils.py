"""The command line the task scripts share: their flags, their data, their outputs.

A task script's `main` reads its flags (`make_parser`, `settings_from_args`), loads its data
(`load_data`, which `dataloaders.prepare_data` pre-processes), trains its runs, and ends with
`finish`: the figures and results written as one set (support/outputs.py), and a table of the
runs. `run_main` checks the Python version, then runs `main` and turns the errors a user can fix
into one line.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dataloaders import Splits, prepare_data
from experiment import Run, Settings
from support import require_python
from support.mnist_files import MNISTError
from support.outputs import OutputError, OutputFolders, stop_on_signals, write_output_set
from trainer import TrainingDivergedError

# The floating-point type the tasks train in (--dtype's default): twice as fast as float64, the
# default of the course's functions (pre_process_images, one_hot_encode, the models).
TRAINING_DTYPE = np.float32
QUICK_EPOCHS = 3


def positive_float(text: str) -> float:
    """A finite number above 0, for argparse."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least 0, for argparse."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1), for argparse."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1, for argparse."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number of at least 0, for argparse."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text}")
    return value


def make_parser(
    description: str,
    *,
    learning_rate: float,
    batch_size: int,
    epochs: int,
    patience: int | None = None,
):
    """The flags every task script takes, with that task's defaults; `--patience` for a task
    whose runs stop early (`patience`, its default)."""
    parser = argparse.ArgumentParser(description=description)
    if patience is not None:
        parser.add_argument(
            "--patience",
            type=positive_int,
            default=patience,
            help="early stopping: validation points without a new lowest validation loss "
            "before training stops (default %(default)s)",
        )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"number of epochs (default {epochs}; {QUICK_EPOCHS} with --quick)",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        default=learning_rate,
        help=f"learning rate (default {learning_rate})",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=batch_size,
        help=f"mini-batch size (default {batch_size})",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed for shuffling (and in Task 5 the initial weights and the shifts)",
    )
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


def load_data(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    load: Callable[..., Splits],
    num_classes: int | None,
) -> Splits:
    """Load a task's splits with `load` and prepare them for training (`prepare_data`: the
    --quick subset, pre-processed images, encoded targets), all of the --dtype type: float32
    unless --dtype float64.

    Missing or bad data, or a batch larger than the training set, end the script with the
    reason.
    """
    try:
        raw = load(data_dir=args.data_dir)
    except MNISTError as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    data = prepare_data(raw, num_classes, np.dtype(args.dtype), quick=args.quick)
    if args.batch_size > len(data.X_train):
        parser.error(
            f"argument --batch-size: {args.batch_size} is larger than the training set "
            f"({len(data.X_train)} samples)"
        )
    return data


def run_main(main: Callable[[], None]) -> None:
    """Run a task's `main`; an old Python and the errors the user can fix end it with one line.

    The STOP_SIGNALS (SIGTERM, SIGHUP where it exists, Ctrl-Break on Windows) stop it as Ctrl-C
    (SIGINT) does, so that the clean-up in `finally` blocks runs and no half-written output
    remains.
    """
    require_python.require()  # Python 3.11 or newer, else one line and exit
    name = Path(sys.argv[0]).name
    stop_on_signals()
    error = None
    # Warnings (NumPy's "overflow encountered", say) are held until `main` ends, then shown;
    # except after a run that diverged: it overflows on its way to a NaN loss, and its one-line
    # error, which names the cause, would be buried under them.
    with warnings.catch_warnings(record=True) as held_warnings:
        try:
            main()
        except TrainingDivergedError as exc:
            held_warnings.clear()
            error = f"{name}: error: {exc}"
        except OutputError as exc:
            error = f"{name}: error: {exc}"
        except KeyboardInterrupt as exc:
            error = f"{name}: stopped ({exc or 'SIGINT'}); the previous outputs are unchanged"
    for held in held_warnings:
        warnings.showwarning(held.message, held.category, held.filename, held.lineno)
    if error is not None:
        sys.exit(error)


def prepare_outputs(args: argparse.Namespace) -> OutputFolders:
    """The output folders of this run, checked to be writable before any training starts."""
    folders = OutputFolders.for_run(args.quick)
    folders.check_writable()
    return folders


def print_summary(runs: Sequence[Run]) -> None:
    """A table of the final metrics of each run ("-" for a test split left unread): the steps
    (updates) it made, in epochs too, and with early stopping whether it stopped or ran all
    epochs, and the step whose weights it kept (those of its lowest validation loss).

    A run whose training loss ended far above where it started is named below the table.
    """
    header = ["run", "steps", "epochs", "early stop", "train acc", "val acc", "test acc",
              "test loss", "seconds"]  # fmt: skip
    rows = []
    for run in runs:
        r = run.record
        tested = r["test_accuracy"] is not None
        stopped = r["stopped_at_step"] is not None
        early_stop = "-"  # no early stopping: the final weights
        if r["early_stopping_patience"] is not None:
            early_stop = f"{'stopped' if stopped else 'ran all'}, kept {r['best_step']}"
        rows.append([
            r["name"],
            str(r["steps"]),
            f"{r['stopped_at_epoch']:.2f}" if stopped else f"{r['epochs']:.2f}",
            early_stop,
            f"{r['train_accuracy']:.2%}",
            f"{r['val_accuracy']:.2%}",
            f"{r['test_accuracy']:.2%}" if tested else "-",
            f"{r['test_loss']:.4f}" if tested else "-",
            f"{r['seconds']:.1f}",
        ])  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for name, *numbers in [header, *rows]:
        cells = [name.ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(numbers, widths[1:], strict=True)]
        print("  ".join(cells))
    for run in runs:
        # Where it started: the initial weights' loss on the first batch; where it ended: the
        # final weights' on the whole training set (one number; the history's "train_loss" is
        # the curve).
        first_loss = run.record["history"]["batch_loss"][0]
        final_loss = run.record["train_loss"]
        if final_loss > 2 * first_loss:
            print(
                f"warning: {run.record['name']}: the training loss ended at {final_loss:.4g}, "
                f"far above where it started ({first_loss:.4g}): this run did not learn; try a "
                "smaller --lr"
            )


def finish(
    task: str,
    folders: OutputFolders,
    figures: Sequence[tuple[plt.Figure, str]],
    runs: Sequence[Run],
    args: argparse.Namespace,
    gradient_check: dict[str, float] | None = None,
) -> None:
    """Write the figures and results as one set, print where they went and the summary.
    `gradient_check`: the relative errors of the task's gradients (gradient_check.py)."""
    records = [run.record for run in runs]
    extra = None if gradient_check is None else {"gradient_check": gradient_check}
    for path in write_output_set(task, folders, figures, records, args.quick, extra):
        print(f"wrote {path}")
    print_summary(runs)
    if args.show:
        plt.show()
    plt.close("all")
