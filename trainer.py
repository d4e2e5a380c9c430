"""The training loop of Tasks 2 to 4: mini-batch SGD with early stopping (the course's BaseTrainer).

Task 5 trains with a subclass, Task5Trainer (task5_trainer.py), which adds momentum, a decaying
learning rate and shifted batches; Tasks 2 to 4 use none of them.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

import numpy as np
from tqdm import tqdm

from dataloaders import batch_loader

# Validations without improvement before early stopping ends a run: the course's value, and
# every task that stops early (2 to 4) uses it.
EARLY_STOPPING_PATIENCE = 10

# What a run measured (`BaseTrainer.history`; a run's "history" in results/<task>.json), by step:
# step s is the number of updates done so far, and a value at step s is measured with the weights
# after s updates (step 0: the initial weights; the first validation point is step 1). Its keys:
# see `BaseTrainer.__init__`.
History = dict[str, list]


class Model(Protocol):
    """What the trainer needs of a model: BinaryModel, SoftmaxModel or TwoLayerModel.

    `ws` and `grads` list the same arrays for the whole run: the trainer changes the weights in
    place (w -= ...) and `backward` writes the gradients in place (grad[:] = ...). `loss` takes
    (targets, outputs); `backward` keeps the course's order, (X, outputs, targets).
    """

    ws: list[np.ndarray]  # the parameters
    grads: list[np.ndarray]  # d(cost)/d(ws) for the last batch, the same shapes

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


class BaseTrainer:
    """Train `model` on (X_train, Y_train) by mini-batch SGD, validating on (X_val, Y_val).

    `train(num_epochs)` runs the epochs. An epoch takes the batches of `batch_size` samples in
    order, or with `shuffle_dataset` in a new random order (drawn from `seed`); a last, smaller
    batch is dropped. One step (`train_step`): the forward pass of a batch, its loss, `backward`,
    and w <- w - learning_rate * grad for every parameter (`update`). After the first step and
    every n = steps per epoch // 5 steps after it, `validation_step` measures the whole training
    and validation sets. Early stopping keeps the weights of the lowest validation loss
    (`keep_if_best`), ends the run once `early_stopping_patience` validations in a row have not
    improved on it (`should_stop`; None: never) and restores those weights at the end, also when
    the run used all its epochs.
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
        self.description = description  # the run's name, in messages
        self.rng = np.random.default_rng(seed)  # the shuffling
        self.num_batches_per_epoch = len(X_train) // batch_size
        self.num_steps_per_val = max(1, self.num_batches_per_epoch // 5)
        self.history: History = {
            "step": [],  # at each validation point: its step (1, 1 + n, 1 + 2n, ...),
            "epoch": [],  # that step in epochs (1.0: one whole pass over the training set),
            "train_loss": [],  # the loss and accuracy on the WHOLE training set,
            "train_accuracy": [],
            "val_loss": [],  # and on the whole validation set
            "val_accuracy": [],
            "batch_loss": [],  # [s]: the loss of the batch of update s + 1, before that update
        }
        self.global_step = 0  # updates done so far: the step the weights are at
        self.stopped_at_step: int | None = None  # None: early stopping did not end the run
        self.best_step: int | None = None  # the validation point of the lowest validation loss
        self.best_val_loss = math.inf
        self.best_weights: list[np.ndarray] = []
        self.validations_since_best = 0
        self.seconds = 0.0  # how long train() took

    def train_step(self, X_batch: np.ndarray, Y_batch: np.ndarray) -> float:
        """One update on a batch; returns the batch's loss, measured before the update."""
        outputs = self.model.forward(X_batch)
        loss = self.model.loss(Y_batch, outputs)
        if not np.isfinite(loss):
            raise self.divergence_error(loss)
        self.model.backward(X_batch, outputs, Y_batch)  # sets self.model.grads
        self.update()
        return loss

    def update(self) -> None:
        """Plain SGD: w <- w - learning_rate * grad, for every parameter, in place."""
        for w, grad in zip(self.model.ws, self.model.grads):
            w -= self.learning_rate * grad

    def validation_step(self) -> dict[str, float]:
        """One validation point: the current step, and the loss and accuracy of the current
        weights on the whole training and validation sets, keyed as in `self.history`."""
        train_loss, train_accuracy = evaluate(self.model, self.X_train, self.Y_train)
        val_loss, val_accuracy = evaluate(self.model, self.X_val, self.Y_val)
        return {
            "step": self.global_step,
            "epoch": self.global_step / self.num_batches_per_epoch,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }

    def train(self, num_epochs: int) -> History:
        """Run up to `num_epochs` epochs; return `self.history`."""
        start = time.perf_counter()
        progress = tqdm(range(num_epochs), desc=self.description, unit="epoch", disable=None)
        for _ in progress:
            batches = batch_loader(
                self.X_train, self.Y_train, self.batch_size, self.shuffle_dataset, rng=self.rng
            )
            for X_batch, Y_batch in batches:
                self.history["batch_loss"].append(self.train_step(X_batch, Y_batch))
                self.global_step += 1
                if (self.global_step - 1) % self.num_steps_per_val == 0:  # steps 1, 1 + n, ...
                    point = self.validation_step()
                    for key, value in point.items():
                        self.history[key].append(value)
                    progress.set_postfix(val_loss=f"{point['val_loss']:.3f}")
                    self.keep_if_best(point)
                    if self.should_stop():
                        self.stopped_at_step = self.global_step
                        break
            if self.stopped_at_step is not None:
                break
        progress.close()
        if self.early_stopping_patience is not None:
            self.restore_best_weights()
        self.seconds = time.perf_counter() - start
        return self.history

    def keep_if_best(self, point: dict[str, float]) -> None:
        """Early stopping's bookkeeping: keep the step, validation loss and weights of the lowest
        validation loss so far, and count the validations since it."""
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
        for w, best in zip(self.model.ws, self.best_weights):
            w[:] = best
        how = "stopped early after" if self.stopped_at_step is not None else "ran all"
        tqdm.write(
            f"{self.description}: {how} {self.global_step} steps; restored the weights after "
            f"{self.best_step} steps, the lowest validation loss ({self.best_val_loss:.4f})."
        )

    def divergence_error(self, loss: float) -> TrainingDivergedError:
        """The error for a training loss that became NaN or infinite, with what to try."""
        lr = self.learning_rate
        return TrainingDivergedError(
            f"the training loss became {loss} at step {self.global_step}: the learning rate "
            f"{lr:g} is too large for this model; try a smaller one (e.g. --lr {lr / 10:g})"
        )
