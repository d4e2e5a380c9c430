"""One training loop for every model: mini-batch SGD (with optional momentum) and early stopping.

A model is anything with the methods and attributes of `Model` below: `BinaryModel` (task 2),
`SoftmaxModel` (tasks 3 and 4) and `TwoLayerModel` (task 5) all train through `BaseTrainer`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np
from tqdm import tqdm

from dataloaders import batch_loader

History = dict[str, dict[int, float]]
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # (X_batch, rng) -> X_batch


class Model(Protocol):
    """What the trainer needs of a model (a `penalty()` method, if any, is for gradient checks)."""

    ws: list[np.ndarray]  # parameters, updated in place
    grads: list[np.ndarray]  # d(cost)/d(ws), same shapes, set by backward

    def forward(self, X: np.ndarray) -> np.ndarray: ...
    def backward(self, X: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> None: ...
    def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float: ...


def accuracy(targets: np.ndarray, outputs: np.ndarray) -> float:
    """Fraction of correct predictions.

    targets, outputs: [N, 1] (binary: target in {0, 1}, output = P(class 1), predicted 1 when
    >= 0.5) or [N, K] (one-hot targets, class probabilities, predicted class = argmax).
    """
    if outputs.shape[1] == 1:
        return float(np.mean((outputs >= 0.5) == (targets >= 0.5)))
    return float(np.mean(outputs.argmax(axis=1) == targets.argmax(axis=1)))


def evaluate(model: Model, X: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) of `model` with its current weights on a whole split, one forward pass."""
    outputs = model.forward(X)
    return model.loss(Y, outputs), accuracy(Y, outputs)


class TrainingDivergedError(ArithmeticError):
    """The training loss became NaN or infinite."""


class Validation(NamedTuple):
    """Metrics at one validation point; `train_*` are over the whole training set."""

    step: int
    epoch: float
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


class BaseTrainer:
    """Train `model` on (X_train, Y_train), validating on (X_val, Y_val) every 20 % of an epoch.

    Each step: forward a batch, record its loss, backward, then for every parameter w with
    gradient g and velocity v: v <- momentum * v - learning_rate * g; w <- w + v
    (plain SGD when momentum is 0). Batches have `batch_size` samples; a last smaller one is
    dropped, so an epoch has len(X_train) // batch_size steps.

    Early stopping: training stops once the validation loss has not improved for
    `early_stopping_patience` validations in a row (None: never), and the weights of the best
    validation are restored at the end.

    Task 5's options: with `cosine_decay`, step t of T in all uses the learning rate
    learning_rate * (1 + cos(pi t / T)) / 2, from learning_rate down to 0. `augment(X, rng)`
    returns a changed copy of each training batch X for its step (the targets stay); its rng
    comes from `seed` too but is not the shuffling one, so the batch order does not change.
    """

    def __init__(
        self,
        model: Model,
        learning_rate: float,
        batch_size: int,
        shuffle_dataset: bool,
        X_train: np.ndarray,
        Y_train: np.ndarray,
        X_val: np.ndarray,
        Y_val: np.ndarray,
        *,
        early_stopping_patience: int | None = 10,
        seed: int = 0,
        momentum: float = 0.0,
        validations_per_epoch: int = 5,
        cosine_decay: bool = False,
        augment: Augment | None = None,
        description: str = "training",
    ) -> None:
        if len(X_train) < batch_size:
            raise ValueError(
                f"batch size {batch_size} is larger than the training set ({len(X_train)} samples)"
            )
        self.model = model
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.shuffle_dataset = shuffle_dataset
        self.X_train, self.Y_train = X_train, Y_train
        self.X_val, self.Y_val = X_val, Y_val
        self.early_stopping_patience = early_stopping_patience
        self.momentum = momentum
        self.cosine_decay = cosine_decay
        self.augment = augment
        self.description = description
        self.rng = np.random.default_rng(seed)
        self.augment_rng = np.random.default_rng([seed, 1])
        self.num_batches_per_epoch = len(X_train) // batch_size
        self.num_steps_per_val = max(1, self.num_batches_per_epoch // validations_per_epoch)
        self.velocities = [np.zeros_like(w) for w in model.ws]
        self.train_history: History = {"loss": {}, "accuracy": {}}
        self.val_history: History = {"loss": {}, "accuracy": {}}
        self.validations: list[Validation] = []
        self.global_step = 0
        self.total_steps = 0  # of the whole run, set by train()
        self.stopped_at_step: int | None = None
        self.stopped_at_epoch: int | None = None
        self.best_validation: Validation | None = None
        self.best_weights: list[np.ndarray] = []
        self.validations_since_best = 0

    def current_learning_rate(self) -> float:
        """The learning rate of the step about to run: constant, or on the cosine schedule."""
        if not self.cosine_decay:
            return self.learning_rate
        progress = self.global_step / self.total_steps
        return 0.5 * self.learning_rate * (1 + math.cos(math.pi * progress))

    def train_step(self, X_batch: np.ndarray, Y_batch: np.ndarray) -> float:
        """One SGD step on a batch; returns the batch loss of the forward pass it used."""
        outputs = self.model.forward(X_batch)
        loss = self.model.loss(Y_batch, outputs)
        if not np.isfinite(loss):
            raise self.divergence_error(loss)
        self.model.backward(X_batch, outputs, Y_batch)
        learning_rate = self.current_learning_rate()
        for w, grad, velocity in zip(self.model.ws, self.model.grads, self.velocities, strict=True):
            velocity *= self.momentum
            velocity -= learning_rate * grad
            w += velocity
        return loss

    def validation_step(self) -> Validation:
        """Loss and accuracy of the current weights on the whole training and validation sets."""
        train_loss, train_accuracy = evaluate(self.model, self.X_train, self.Y_train)
        val_loss, val_accuracy = evaluate(self.model, self.X_val, self.Y_val)
        epoch = self.global_step / self.num_batches_per_epoch
        return Validation(
            self.global_step, epoch, train_loss, train_accuracy, val_loss, val_accuracy
        )

    def train(self, num_epochs: int) -> tuple[History, History]:
        """Run up to `num_epochs` epochs; return (train_history, val_history).

        Both are {"loss": {step: value}, "accuracy": {step: value}}; the training loss is the
        batch loss at every step, the accuracies and validation loss are at validation points.
        """
        self.total_steps = num_epochs * self.num_batches_per_epoch
        progress = tqdm(range(num_epochs), desc=self.description, unit="epoch", disable=None)
        for epoch in progress:
            batches = batch_loader(
                self.X_train, self.Y_train, self.batch_size, self.shuffle_dataset, rng=self.rng
            )
            for X_batch, Y_batch in batches:
                if self.augment is not None:
                    X_batch = self.augment(X_batch, self.augment_rng)
                self.train_history["loss"][self.global_step] = self.train_step(X_batch, Y_batch)
                if self.global_step % self.num_steps_per_val == 0:
                    validation = self.validation_step()
                    self.record(validation)
                    progress.set_postfix(val_loss=f"{validation.val_loss:.3f}")
                    self.keep_if_best(validation)
                    if self.should_stop():
                        self.stopped_at_step, self.stopped_at_epoch = self.global_step, epoch + 1
                self.global_step += 1
                if self.stopped_at_step is not None:
                    break
            if self.stopped_at_step is not None:
                break
        progress.close()
        if self.early_stopping_patience is not None and self.best_validation is not None:
            self.restore_best_weights()
        return self.train_history, self.val_history

    def record(self, validation: Validation) -> None:
        """Add a validation to the histories."""
        self.validations.append(validation)
        self.train_history["accuracy"][validation.step] = validation.train_accuracy
        self.val_history["loss"][validation.step] = validation.val_loss
        self.val_history["accuracy"][validation.step] = validation.val_accuracy

    def keep_if_best(self, validation: Validation) -> None:
        """Early stopping's bookkeeping: keep the validation with the lowest validation loss so
        far and its weights, and count the validations since it."""
        if self.best_validation is None or validation.val_loss < self.best_validation.val_loss:
            self.best_validation = validation
            self.best_weights = [w.copy() for w in self.model.ws]
            self.validations_since_best = 0
        else:
            self.validations_since_best += 1

    def should_stop(self) -> bool:
        """Early stopping's rule: stop once `early_stopping_patience` validations in a row have
        not improved on the lowest validation loss (never without a patience)."""
        patience = self.early_stopping_patience
        return patience is not None and self.validations_since_best >= patience

    def restore_best_weights(self) -> None:
        """Set the model's weights to those of the best validation, and say so."""
        for w, best in zip(self.model.ws, self.best_weights, strict=True):
            w[...] = best
        best = self.best_validation
        stop = (
            f"Early stopping at step {self.stopped_at_step} (epoch {self.stopped_at_epoch})"
            if self.stopped_at_step is not None
            else "Ran all epochs"
        )
        tqdm.write(
            f"{self.description}: {stop}; restored the weights of step {best.step} "
            f"(best validation loss {best.val_loss:.4f})."
        )

    def divergence_error(self, loss: float) -> TrainingDivergedError:
        """The error for a training loss that became NaN or infinite, with what to try."""
        lr = self.learning_rate
        advice = f"the learning rate {lr:g} is too large for this model; try a smaller one "
        advice += f"(e.g. --lr {lr / 10:g})"
        decay = lr * getattr(self.model, "l2_reg_lambda", 0.0)
        if decay >= 1:  # w <- (1 - lr * lambda) w - ...: the penalty alone overshoots zero
            advice = (
                f"the L2 penalty may be the cause: learning rate times lambda is {decay:g}, and "
                "from 1 on weight decay overshoots zero at every step; keep it well below 1 "
                "(a smaller --l2, or --lr)"
            )
        return TrainingDivergedError(
            f"the training loss became {loss} at step {self.global_step}: {advice}"
        )
