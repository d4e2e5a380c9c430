"""Task 2: logistic regression telling the digit 2 (target 1) from 3 (target 0).

Runs: no shuffling and no early stopping (figures 2b, 2c), early stopping (2d), shuffling (2e).
"""

from __future__ import annotations

import require_python  # noqa: F401 (first: an older Python stops here, in one line)

# isort: split

import plots
import utils
from dataloaders import load_binary_dataset
from experiment import Run, Settings, run_experiment
from logistic_regression import BinaryModel

EARLY_STOPPING_PATIENCE = 10


def main(argv: list[str] | None = None) -> None:
    parser = utils.make_parser(__doc__, learning_rate=0.05, batch_size=128, epochs=50)
    args = parser.parse_args(argv)
    folders = utils.prepare_outputs(args)
    settings = utils.settings_from_args(args)
    data = utils.prepare_data(parser, args, load_binary_dataset, num_classes=None)

    def train(name: str, shuffle: bool, patience: int | None) -> Run:
        model = BinaryModel(dtype=data.X_train.dtype)
        return run_experiment(
            name, model, data, settings, shuffle=shuffle, early_stopping_patience=patience
        )

    plain = train("no_shuffle", shuffle=False, patience=None)
    early = train("early_stopping", shuffle=False, patience=EARLY_STOPPING_PATIENCE)
    shuffled = train("shuffle", shuffle=True, patience=None)
    figures = draw_figures(plain, early, shuffled, settings)
    utils.finish("task2", folders, figures, [plain, early, shuffled], args)


def draw_figures(plain: Run, early: Run, shuffled: Run, settings: Settings) -> list:
    what = f"logistic regression, 2 vs 3, lr {settings.learning_rate:g}"
    loss_fig, (ax,) = plots.titled_figure(f"Task 2b: loss, {what}, no shuffling")
    plots.plot_loss(ax, plain)
    accuracy_fig, (ax,) = plots.titled_figure(f"Task 2c: accuracy, {what}, no shuffling")
    plots.plot_accuracy(ax, plain)
    early_fig, axes = plots.titled_figure(
        f"Task 2d: early stopping, {what}, no shuffling", ("Loss", "Accuracy")
    )
    plots.plot_loss(axes[0], early)
    plots.plot_accuracy(axes[1], early)
    for ax in axes:
        plots.mark_stop(ax, early)
    shuffle_fig = plots.compare_validation(
        f"Task 2e: validation curves with and without shuffling, {what}",
        {"without shuffling": plain, "with shuffling": shuffled},
    )
    return [
        (loss_fig, "task2b_loss.png"),
        (accuracy_fig, "task2c_accuracy.png"),
        (early_fig, "task2d_early_stopping.png"),
        (shuffle_fig, "task2e_shuffle.png"),
    ]


if __name__ == "__main__":
    utils.run_main(main)
