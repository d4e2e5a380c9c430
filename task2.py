"""Task 2: logistic regression telling the digit 2 (target 1) from 3 (target 0).

Runs: no shuffling and no early stopping (figures 2b, 2c), early stopping (2d), shuffling (2e).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

import utils
from dataloaders import IMAGE_PIXELS, load_binary_dataset
from trainer import Run, Settings, accuracy, run_experiment

EARLY_STOPPING_PATIENCE = 10


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), as exp(-log(1 + e^-z)) so that no exponential overflows."""
    return np.exp(-np.logaddexp(0.0, -z))


def cross_entropy_loss(targets: np.ndarray, outputs: np.ndarray) -> float:
    """Mean binary cross-entropy C = -1/N sum_n [y^n ln(yhat^n) + (1 - y^n) ln(1 - yhat^n)].

    targets: [N, 1] in {0, 1}; outputs: [N, 1] probabilities yhat = P(target 1).
    """
    if targets.shape != outputs.shape:
        raise ValueError(f"targets {targets.shape} and outputs {outputs.shape} differ in shape")
    log_likelihood = targets * utils.safe_log(outputs) + (1 - targets) * utils.safe_log(1 - outputs)
    return float(-np.mean(log_likelihood))


class BinaryModel:
    """yhat = sigmoid(X w) for inputs X [N, 785] (pixels and a bias column), w [785, 1]."""

    def __init__(self, dtype: DTypeLike = np.float64) -> None:
        self.I = IMAGE_PIXELS + 1
        self.w = np.zeros((self.I, 1), dtype=dtype)
        self.grad = np.zeros_like(self.w)

    @property
    def ws(self) -> list[np.ndarray]:
        return [self.w]

    @property
    def grads(self) -> list[np.ndarray]:
        return [self.grad]

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X [N, 785] -> yhat [N, 1], the probability of target 1."""
        return sigmoid(X @ self.w)

    def evaluate_snapshots(
        self, X: np.ndarray, targets: np.ndarray, snapshots: Sequence[list[np.ndarray]]
    ) -> list[tuple[float, float]]:
        """(loss, accuracy) on X and targets [N, 1] for each snapshot [w] of the weights.

        One product X [w_1 ... w_S] [N, S] gives the outputs of all S snapshots.
        """
        outputs = sigmoid(X @ np.hstack([w for (w,) in snapshots]))
        return [
            (cross_entropy_loss(targets, column), accuracy(targets, column))
            for column in np.hsplit(outputs, len(snapshots))
        ]

    def backward(self, X: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> None:
        """Set self.grad = dC/dw = -1/N sum_n (y^n - yhat^n) x^n, shape [785, 1]."""
        if targets.shape != outputs.shape:
            raise ValueError(f"targets {targets.shape} and outputs {outputs.shape} differ in shape")
        self.grad = -(X.T @ (targets - outputs)) / X.shape[0]

    def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        return cross_entropy_loss(targets, outputs)


def calculate_accuracy(X: np.ndarray, targets: np.ndarray, model: BinaryModel) -> float:
    """Fraction of X classified right (yhat >= 0.5 means target 1); targets [N, 1]."""
    return accuracy(targets, model.forward(X))


def main(argv: list[str] | None = None) -> None:
    parser = utils.make_parser(__doc__, learning_rate=0.05, batch_size=128, epochs=50)
    args = parser.parse_args(argv)
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
    utils.finish(
        figures(plain, early, shuffled, settings), "task2", [plain, early, shuffled], args.show
    )


def figures(plain: Run, early: Run, shuffled: Run, settings: Settings) -> list:
    what = f"logistic regression, 2 vs 3, lr {settings.learning_rate:g}"
    loss_fig, (ax,) = utils.figure(f"Task 2b: loss, {what}, no shuffling")
    utils.plot_loss(ax, plain)
    accuracy_fig, (ax,) = utils.figure(f"Task 2c: accuracy, {what}, no shuffling")
    utils.plot_accuracy(ax, plain)
    early_fig, axes = utils.figure(
        f"Task 2d: early stopping, {what}, no shuffling", ("Loss", "Accuracy")
    )
    utils.plot_loss(axes[0], early)
    utils.plot_accuracy(axes[1], early)
    for ax in axes:
        utils.mark_stop(ax, early)
    shuffle_fig = utils.compare_validation(
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
