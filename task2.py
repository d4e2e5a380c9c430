"""Task 2: logistic regression telling the digit 2 (target 1) from 3 (target 0).

Runs: no shuffling and no early stopping (2b, 2c), early stopping (2d, marked on the same
figure), shuffling (2e).
"""

from __future__ import annotations

import plots
import utils
from dataloaders import load_binary_dataset
from experiment import Run, Settings, run_experiment
from logistic_regression import BinaryModel
from trainer import EARLY_STOPPING_PATIENCE


def main(argv: list[str] | None = None) -> None:
    parser = utils.make_parser(
        __doc__, learning_rate=0.05, batch_size=128, epochs=50, patience=EARLY_STOPPING_PATIENCE
    )
    args = parser.parse_args(argv)
    folders = utils.prepare_outputs(args)
    settings = utils.settings_from_args(args)
    data = utils.load_data(parser, args, load_binary_dataset, num_classes=None)

    def train(name: str, shuffle: bool, patience: int | None) -> Run:
        model = BinaryModel(dtype=data.X_train.dtype)
        return run_experiment(
            name, model, data, settings, shuffle=shuffle, early_stopping_patience=patience
        )

    plain = train("no_shuffle", shuffle=False, patience=None)
    early = train("early_stopping", shuffle=False, patience=args.patience)
    shuffled = train("shuffle", shuffle=True, patience=None)
    figures = draw_figures(plain, early, shuffled, settings)
    utils.finish("task2", folders, figures, [plain, early, shuffled], args)


def draw_figures(plain: Run, early: Run, shuffled: Run, settings: Settings) -> list:
    model = f"logistic regression, 2 vs 3, lr {settings.learning_rate:g}"
    # Without shuffling the early-stopped run takes the same steps as the plain one: its stop
    # is marked on the plain run's curves, which show what would have followed.
    curves_fig = plots.loss_and_accuracy(
        f"Task 2b-d: loss and accuracy, with the early stop marked\n{model}, no shuffling",
        plain,
        stopped=early,
    )
    shuffle_fig = plots.compare_validation(
        f"Task 2e: validation curves with and without shuffling\n{model}",
        {"without shuffling": plain, "with shuffling": shuffled},
    )
    return [(curves_fig, "task2b_curves.png"), (shuffle_fig, "task2e_shuffle.png")]


if __name__ == "__main__":
    utils.run_main(main)
