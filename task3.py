"""Task 3: softmax regression over the ten digits, with optional L2 regularisation.

Runs: shuffling with early stopping (figures 3b, 3c), and the same without early stopping to
see whether and where the model overfits (3d).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

import utils
from dataloaders import IMAGE_PIXELS, Splits, load_full_mnist
from trainer import Run, Settings, accuracy, run_experiment

NUM_CLASSES = 10
EARLY_STOPPING_PATIENCE = 10


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise e^z_k / sum_j e^z_j, less the row maximum first so that exp cannot overflow.

    z: logits [N, K] -> probabilities [N, K].
    """
    # Computed on the transpose, one row per class: NumPy reduces a short last axis one row at
    # a time, but K rows of length N in a few whole-array operations (5 times faster, K = 10).
    exp = z.T.copy()
    exp -= exp.max(axis=0)
    np.exp(exp, out=exp)
    exp /= exp.sum(axis=0)
    return exp.T


def cross_entropy_loss(targets: np.ndarray, outputs: np.ndarray) -> float:
    """Mean multi-class cross-entropy C = -1/N sum_n sum_k y_k^n ln(yhat_k^n).

    targets: one-hot [N, K]; outputs: class probabilities [N, K].
    """
    if targets.shape != outputs.shape:
        raise ValueError(f"targets {targets.shape} and outputs {outputs.shape} differ in shape")
    return float(-np.sum(targets * utils.safe_log(outputs)) / targets.shape[0])


def cross_entropy_and_accuracy(
    logits_by_class: np.ndarray, labels: np.ndarray
) -> tuple[float, float]:
    """`cross_entropy_loss` and accuracy of softmax(z), computed from the logits z.

    logits_by_class: [K, N], one row per class, so that maxima and sums over the classes are
    whole-row operations; labels: [N] in 0..K-1. With m = max_k z_k the loss is
    C = 1/N sum_n (m + ln sum_k e^(z_k - m) - z_label): ln(yhat_label) without forming yhat.
    A prediction is the class of the largest logit, the first one on a tie (as argmax).
    """
    top = logits_by_class.max(axis=0)
    log_sum_exp = top + np.log(np.exp(logits_by_class - top).sum(axis=0))
    label_logits = logits_by_class[labels, np.arange(len(labels))]
    if np.count_nonzero(logits_by_class == top) == len(labels):  # no sample has a tie
        hits = label_logits == top
    else:
        hits = logits_by_class.argmax(axis=0) == labels
    return float(np.mean(log_sum_exp - label_logits)), float(np.mean(hits))


class SoftmaxModel:
    """yhat = softmax(X w) for inputs X [N, 785] (pixels and a bias column), w [785, 10].

    The cost minimised is J = C + l2_reg_lambda * 1/2 sum(w^2), over all of w.
    """

    def __init__(self, l2_reg_lambda: float = 0.0, dtype: DTypeLike = np.float64) -> None:
        self.I = IMAGE_PIXELS + 1
        self.num_outputs = NUM_CLASSES
        self.l2_reg_lambda = l2_reg_lambda
        self.w = np.zeros((self.I, self.num_outputs), dtype=dtype)
        self.grad = np.zeros_like(self.w)

    @property
    def ws(self) -> list[np.ndarray]:
        return [self.w]

    @property
    def grads(self) -> list[np.ndarray]:
        return [self.grad]

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X [N, 785] -> class probabilities yhat [N, 10]."""
        return softmax(X @ self.w)

    def evaluate_snapshots(
        self, X: np.ndarray, targets: np.ndarray, snapshots: Sequence[list[np.ndarray]]
    ) -> list[tuple[float, float]]:
        """(loss, accuracy) on X and one-hot targets for each snapshot [w] of the weights.

        One product [w_1 ... w_S]^T X^T gives the logits of all S snapshots, one row per class.
        With 10 columns, a product with X spends most of its time copying X into the BLAS
        layout, so the S snapshots side by side cost little more than one.
        """
        weights_by_class = np.vstack([w.T for (w,) in snapshots])  # [S * 10, 785]
        logits = (weights_by_class @ X.T).reshape(len(snapshots), self.num_outputs, len(X))
        labels = targets.argmax(axis=1)
        return [cross_entropy_and_accuracy(logits_by_class, labels) for logits_by_class in logits]

    def backward(self, X: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> None:
        """Set self.grad = dJ/dw = -1/N X^T (y - yhat) + lambda w, shape [785, 10]."""
        if targets.shape != outputs.shape:
            raise ValueError(f"targets {targets.shape} and outputs {outputs.shape} differ in shape")
        self.grad = X.T @ ((outputs - targets) / X.shape[0])  # divide the smaller factor by N
        if self.l2_reg_lambda:
            self.grad += self.l2_reg_lambda * self.w

    def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        """The cross-entropy C; the penalty is left out so that runs with any lambda compare."""
        return cross_entropy_loss(targets, outputs)

    def penalty(self) -> float:
        """lambda * 1/2 sum(w^2), the regularisation term of J."""
        return 0.5 * self.l2_reg_lambda * float(np.sum(self.w.astype(np.float64) ** 2))


def calculate_accuracy(X: np.ndarray, targets: np.ndarray, model: SoftmaxModel) -> float:
    """Fraction of X whose most probable class is the one-hot target's class."""
    return accuracy(targets, model.forward(X))


def train_softmax(
    name: str, data: Splits, settings: Settings, l2_reg_lambda: float, patience: int | None
) -> Run:
    """One softmax-regression run with shuffling (shared by tasks 3 and 4)."""
    model = SoftmaxModel(l2_reg_lambda, dtype=data.X_train.dtype)
    return run_experiment(
        name,
        model,
        data,
        settings,
        shuffle=True,
        early_stopping_patience=patience,
        hyperparameters={"l2_lambda": l2_reg_lambda},
    )


def main(argv: list[str] | None = None) -> None:
    parser = utils.make_parser(__doc__, learning_rate=0.01, batch_size=128, epochs=50)
    args = parser.parse_args(argv)
    settings = utils.settings_from_args(args)
    data = utils.prepare_data(parser, args, load_full_mnist, num_classes=NUM_CLASSES)
    early = train_softmax("early_stopping", data, settings, 0.0, EARLY_STOPPING_PATIENCE)
    full = train_softmax("no_early_stopping", data, settings, 0.0, None)
    utils.finish(figures(early, full, settings), "task3", [early, full], args.show)


def figures(early: Run, full: Run, settings: Settings) -> list:
    what = f"softmax regression, lr {settings.learning_rate:g}, shuffling"
    loss_fig, (ax,) = utils.figure(f"Task 3b: loss, {what}, early stopping")
    utils.plot_loss(ax, early)
    utils.mark_stop(ax, early)
    accuracy_fig, (ax,) = utils.figure(f"Task 3c: accuracy, {what}, early stopping")
    utils.plot_accuracy(ax, early)
    utils.mark_stop(ax, early)
    overfitting_fig = utils.plot_overfitting(
        f"Task 3d: training vs validation over {full.record['epochs']} epochs, {what}, "
        "no early stopping",
        full,
    )
    return [
        (loss_fig, "task3b_loss.png"),
        (accuracy_fig, "task3c_accuracy.png"),
        (overfitting_fig, "task3d_overfitting.png"),
    ]


if __name__ == "__main__":
    utils.run_main(main)
