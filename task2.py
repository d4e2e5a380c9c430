"""Task 2: logistic regression telling the digit 2 (target 1) from 3 (target 0).

Runs: no shuffling and no early stopping (2b, 2c), early stopping (2d, marked on the same
figure), shuffling (2e). Each run trains a `BinaryModel` (logistic_regression.py) with the
course's `BaseTrainer` (trainer.py), then `record_run` (experiment.py) measures its final weights
on the training, validation and test sets; results/task2.json keeps those records.
"""

import gradient_check
import plots
import utils
from dataloaders import load_binary_dataset
from experiment import Run, Settings, record_run
from logistic_regression import BinaryModel
from trainer import EARLY_STOPPING_PATIENCE, BaseTrainer


def main(argv: list[str] | None = None) -> None:
    parser = utils.make_parser(
        __doc__, learning_rate=0.05, batch_size=128, epochs=50, patience=EARLY_STOPPING_PATIENCE
    )
    args = parser.parse_args(argv)
    folders = utils.prepare_outputs(args)
    settings = utils.settings_from_args(args)
    # The 2s and 3s of each split (dataloaders.load_binary_dataset) as the model trains on them
    # (dataloaders.prepare_data): X [N, 785], the pixels scaled to [-1, 1] and a last column of
    # ones (the bias input); Y [N, 1], 1 for a 2 and 0 for a 3. All float32, for speed.
    data = utils.load_data(parser, args, load_binary_dataset, num_classes=None)

    def train(name: str, shuffle: bool, patience: int | None) -> Run:
        model = BinaryModel(dtype=data.X_train.dtype)  # weights of the data's type, float32
        trainer = BaseTrainer(
            model,
            settings.learning_rate,
            settings.batch_size,
            shuffle,
            data.X_train,
            data.Y_train,
            data.X_val,
            data.Y_val,
            early_stopping_patience=patience,  # None: train all epochs
            seed=settings.seed,  # of the shuffling
            description=name,
        )
        trainer.train(settings.epochs)
        # The final weights (with early stopping: the best validation's) on every split, and
        # the run's record.
        return record_run(name, trainer, data, settings)

    plain = train("no_shuffle", shuffle=False, patience=None)
    early = train("early_stopping", shuffle=False, patience=args.patience)
    shuffled = train("shuffle", shuffle=True, patience=None)
    figures = draw_figures(plain, early, shuffled, settings)
    check = gradient_check.check_for_task("logistic")  # Task 2a
    utils.finish("task2", folders, figures, [plain, early, shuffled], args, check)


def draw_figures(plain: Run, early: Run, shuffled: Run, settings: Settings) -> list:
    model = f"logistic regression, 2 vs 3, lr {settings.learning_rate:g}"
    # Without shuffling the early-stopped run takes the same steps as the plain one: its stop
    # is marked on the plain run's curves, which show what would have followed.
    curves_fig = plots.loss_and_accuracy(
        f"Task 2b-d: loss and accuracy, with the early stop marked\n{model}, no shuffling",
        plain,
        stopped=early,
    )
    shuffle_fig = plots.compare_runs(
        f"Task 2e: losses and accuracy with and without shuffling\n{model}",
        {"without shuffling": plain, "with shuffling": shuffled},
    )
    return [(curves_fig, "task2b_curves.png"), (shuffle_fig, "task2e_shuffle.png")]


if __name__ == "__main__":
    utils.run_main(main)
