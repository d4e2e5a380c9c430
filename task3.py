"""Task 3: softmax regression over the ten digits (no regularisation: that is Task 4).

Runs: shuffling with early stopping (figures 3b, 3c), and the same without early stopping to
see whether and where the model overfits (3d). Each run is `experiment.train_softmax`: a
`SoftmaxModel` (softmax_regression.py) trained with `BaseTrainer` (trainer.py) as in task2.py,
then measured on every split by `record_run`.
"""

from __future__ import annotations

import gradient_check
import plots
import utils
from dataloaders import load_full_mnist
from experiment import SOFTMAX_DEFAULTS, Run, Settings, train_softmax
from softmax_regression import NUM_CLASSES

# Figure 3's third panel: the accuracies after the first epoch's steep rise, on a linear axis.
ACCURACY_ZOOM_FROM_EPOCH = 1


def main(argv: list[str] | None = None) -> None:
    parser = utils.make_parser(__doc__, **SOFTMAX_DEFAULTS)
    args = parser.parse_args(argv)
    folders = utils.prepare_outputs(args)
    settings = utils.settings_from_args(args)
    data = utils.load_data(parser, args, load_full_mnist, num_classes=NUM_CLASSES)
    early = train_softmax(
        "early_stopping", data, settings, l2_reg_lambda=0.0, patience=args.patience
    )
    full = train_softmax("no_early_stopping", data, settings, l2_reg_lambda=0.0, patience=None)
    figures = draw_figures(early, full, settings)
    check = gradient_check.check_for_task("softmax")  # Task 3a
    utils.finish("task3", folders, figures, [early, full], args, check)


def draw_figures(early: Run, full: Run, settings: Settings) -> list:
    what = f"softmax regression, lr {settings.learning_rate:g}, shuffling"
    curves_fig = plots.loss_and_accuracy(
        f"Task 3b-c: loss and accuracy\n{what}, early stopping",
        early,
        stopped=early,
        zoom_from_epoch=ACCURACY_ZOOM_FROM_EPOCH,
    )
    overfitting_fig = plots.plot_overfitting(
        f"Task 3d: training vs validation over {full.record['epochs']} epochs\n{what}, "
        "no early stopping",
        full,
        zoom_from_epoch=full.record["epochs"] / 5,  # the report's blocks: a fifth of the run
    )
    return [(curves_fig, "task3b_curves.png"), (overfitting_fig, "task3d_overfitting.png")]


if __name__ == "__main__":
    utils.run_main(main)
