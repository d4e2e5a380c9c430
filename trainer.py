"""One training loop for every model: mini-batch SGD (with optional momentum) and early stopping.

A model is anything with the methods and attributes of `Model` below: `BinaryModel` (task 2),
`SoftmaxModel` (tasks 3 and 4) and `TwoLayerModel` (task 5) all train through `BaseTrainer`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, TypedDict

import numpy as np
from tqdm import tqdm

from dataloaders import batch_loader

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # (X_batch, rng) -> X_batch

# Validations without improvement before early stopping ends a run: the course's value, and
# every task that stops early (2 to 4) uses it.
EARLY_STOPPING_PATIENCE = 10


class Model(Protocol):
    """What the trainer needs of a model (a `penalty()` method, if any, is for gradient checks).

    `loss` and `accuracy` below take (targets, outputs); `backward` keeps the course's order,
    (X, outputs, targets).
    """

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


class History(TypedDict):
    """What a run measured while it trained: `BaseTrainer.history`, and a record's "history".

    Steps and epochs: step s is the number of updates done so far, and every value labelled
    step s is measured with the weights after s updates (step 0: the initial weights). Epoch
    e = s / (steps per epoch), a fraction: epoch 1.0 is one whole pass over the training set.

    One entry per validation point, measured on the WHOLE training and validation sets:
        step: the step of the point (1, 1 + n, 1 + 2n, ... for a validation every n steps)
        epoch: that step in epochs
        train_loss, train_accuracy: loss and accuracy on the whole training set
        val_loss, val_accuracy: loss and accuracy on the whole validation set
    One entry per update, at the step it starts from (the index is the step, 0 to steps - 1):
        batch_loss: batch_loss[s] is the loss of the batch of update s + 1, measured before
            that update (with the weights of step s)
    """

    step: list[int]
    epoch: list[float]
    train_loss: list[float]
    train_accuracy: list[float]
    val_loss: list[float]
    val_accuracy: list[float]
    batch_loss: list[float]


class BaseTrainer:
    """Train `model` on (X_train, Y_train), validating on (X_val, Y_val) every 20 % of an epoch.

    Each step (one update): forward a batch, record its loss, backward, then for every
    parameter w with gradient g and velocity v: v <- momentum * v - learning_rate * g;
    w <- w + v (plain SGD when momentum is 0). Batches have `batch_size` samples; a last
    smaller one is dropped, so an epoch has len(X_train) // batch_size steps.

    Steps are counted as in `History`: step s means the weights after s updates (step 0: the
    initial weights), and epoch = step / steps per epoch. `self.history` records the loss of
    every batch and, at each validation point, the loss and accuracy on the whole training and
    validation sets. With n = steps per epoch // `validations_per_epoch` (at least 1), the
    trainer validates after the first update and every n updates after it: at steps 1, 1 + n,
    1 + 2n, ...

    Early stopping: training stops once the validation loss has not improved for
    `early_stopping_patience` validations in a row (None: never), and the weights of the best
    validation are restored at the end.

    Task 5's options: with `cosine_decay`, the update from step t of T in all uses the learning
    rate learning_rate * (1 + cos(pi t / T)) / 2, from learning_rate down to 0. `augment(X, rng)`
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
        early_stopping_patience: int | None = EARLY_STOPPING_PATIENCE,
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
        self.history: History = {
            "step": [],
            "epoch": [],
            "train_loss": [],
            "train_accuracy": [],
            "val_loss": [],
            "val_accuracy": [],
            "batch_loss": [],
        }
        self.global_step = 0  # updates done so far: the step the weights are at
        self.total_steps = 0  # of the whole run, set by train()
        self.stopped_at_step: int | None = None
        self.stopped_at_epoch: float | None = None
        self.best_step: int | None = None  # the validation point of the lowest validation loss
        self.best_val_loss = math.inf
        self.best_weights: list[np.ndarray] = []
        self.validations_since_best = 0

    def current_learning_rate(self) -> float:
        """The learning rate of the update about to run, from step `global_step`: constant, or
        on the cosine schedule."""
        if not self.cosine_decay:
            return self.learning_rate
        progress = self.global_step / self.total_steps
        return 0.5 * self.learning_rate * (1 + math.cos(math.pi * progress))

    def train_step(self, X_batch: np.ndarray, Y_batch: np.ndarray) -> float:
        """One SGD update on a batch; returns the batch loss of the forward pass it used, that
        is with the weights before the update."""
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

    def epoch_of(self, step: int) -> float:
        """`step` in epochs: 1.0 after one whole pass over the training set."""
        return step / self.num_batches_per_epoch

    def validation_step(self) -> dict[str, float]:
        """One validation point: the current step, and the loss and accuracy of the current
        weights on the whole training and validation sets, keyed as in `History`."""
        train_loss, train_accuracy = evaluate(self.model, self.X_train, self.Y_train)
        val_loss, val_accuracy = evaluate(self.model, self.X_val, self.Y_val)
        return {
            "step": self.global_step,
            "epoch": self.epoch_of(self.global_step),
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }

    def train(self, num_epochs: int) -> History:
        """Run up to `num_epochs` epochs; return `self.history` (see `History`)."""
        self.total_steps = num_epochs * self.num_batches_per_epoch
        progress = tqdm(range(num_epochs), desc=self.description, unit="epoch", disable=None)
        for _ in progress:
            batches = batch_loader(
                self.X_train, self.Y_train, self.batch_size, self.shuffle_dataset, rng=self.rng
            )
            for X_batch, Y_batch in batches:
                if self.augment is not None:
                    X_batch = self.augment(X_batch, self.augment_rng)
                self.history["batch_loss"].append(self.train_step(X_batch, Y_batch))
                self.global_step += 1
                # Validate after the first update and every n updates after it.
                if (self.global_step - 1) % self.num_steps_per_val == 0:
                    point = self.validation_step()
                    self.record(point)
                    progress.set_postfix(val_loss=f"{point['val_loss']:.3f}")
                    self.keep_if_best(point)
                    if self.should_stop():
                        self.stopped_at_step = self.global_step
                        self.stopped_at_epoch = self.epoch_of(self.global_step)
                        break
            if self.stopped_at_step is not None:
                break
        progress.close()
        if self.early_stopping_patience is not None and self.best_step is not None:
            self.restore_best_weights()
        return self.history

    def record(self, point: dict[str, float]) -> None:
        """Add a validation point to the history."""
        for key, value in point.items():
            self.history[key].append(value)

    def keep_if_best(self, point: dict[str, float]) -> None:
        """Early stopping's bookkeeping: keep the step, validation loss and weights of the
        validation point with the lowest validation loss so far, and count the validations
        since it."""
        if self.best_step is None or point["val_loss"] < self.best_val_loss:
            self.best_step, self.best_val_loss = point["step"], point["val_loss"]
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
        how = "stopped early after" if self.stopped_at_step is not None else "ran all"
        tqdm.write(
            f"{self.description}: {how} {self.global_step} steps (epoch "
            f"{self.epoch_of(self.global_step):.2f}); restored the weights after {self.best_step} "
            f"steps (epoch {self.epoch_of(self.best_step):.2f}), the lowest validation loss "
            f"({self.best_val_loss:.4f})."
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
