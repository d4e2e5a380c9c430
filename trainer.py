"""One training loop for every model: mini-batch SGD (with optional momentum) and early stopping.

A model is anything with the methods and attributes of `Model` below: `BinaryModel` (task 2),
`SoftmaxModel` (tasks 3 and 4) and `TwoLayerModel` (task 5) all train through `BaseTrainer`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
from tqdm import tqdm

from dataloaders import Splits, batch_loader

History = dict[str, dict[int, float]]


class Model(Protocol):
    """What the trainer needs of a model."""

    ws: list[np.ndarray]  # parameters, updated in place
    grads: list[np.ndarray]  # d(cost)/d(ws), same shapes, set by backward

    def forward(self, X: np.ndarray) -> np.ndarray: ...
    def backward(self, X: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> None: ...
    def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float: ...

    def evaluate_snapshots(
        self, X: np.ndarray, targets: np.ndarray, snapshots: Sequence[list[np.ndarray]]
    ) -> list[tuple[float, float]]:
        """(loss, accuracy) on (X, targets) with ws set to each snapshot, in one pass over X."""
        ...


def accuracy(targets: np.ndarray, outputs: np.ndarray) -> float:
    """Fraction of correct predictions.

    targets, outputs: [N, 1] (binary: target in {0, 1}, output = P(class 1), predicted 1 when
    >= 0.5) or [N, K] (one-hot targets, class probabilities, predicted class = argmax).
    """
    if outputs.shape[1] == 1:
        return float(np.mean((outputs >= 0.5) == (targets >= 0.5)))
    return float(np.mean(outputs.argmax(axis=1) == targets.argmax(axis=1)))


def evaluate(model: Model, X: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) of `model` with its current weights on a whole split."""
    return model.evaluate_snapshots(X, Y, [model.ws])[0]


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


class Snapshot(NamedTuple):
    """A copy of the weights at a validation point, kept until the epoch's validations run."""

    step: int
    ws: list[np.ndarray]


class BaseTrainer:
    """Train `model` on (X_train, Y_train), validating on (X_val, Y_val) every 20 % of an epoch.

    Each step: forward a batch, record its loss, backward, then for every parameter w with
    gradient g and velocity v: v <- momentum * v - learning_rate * g; w <- w + v
    (plain SGD when momentum is 0). Batches have `batch_size` samples; a last smaller one is
    dropped, so an epoch has len(X_train) // batch_size steps.

    A validation measures the loss and accuracy on the whole training and validation sets. The
    weights at each validation point are copied, and at the end of the epoch one pass over each
    set evaluates all of them (`Model.evaluate_snapshots`): for the linear models, a product
    with the epoch's five or six weight matrices side by side costs little more than one with
    a single matrix. The numbers are those of validating at each point as training goes.

    Early stopping: training stops once the validation loss has not improved for
    `early_stopping_patience` validations in a row (None: never), and the weights of the best
    validation are restored at the end. The validations are read in order, so the run stops
    at the same step as it would validating as it goes; the steps the epoch trained past that
    point are dropped from the history and the step count.
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
        self.description = description
        self.rng = np.random.default_rng(seed)
        self.num_batches_per_epoch = len(X_train) // batch_size
        self.num_steps_per_val = max(1, self.num_batches_per_epoch // validations_per_epoch)
        self.velocities = [np.zeros_like(w) for w in model.ws]
        self.train_history: History = {"loss": {}, "accuracy": {}}
        self.val_history: History = {"loss": {}, "accuracy": {}}
        self.validations: list[Validation] = []
        self.global_step = 0
        self.stopped_at_step: int | None = None
        self.stopped_at_epoch: int | None = None
        self.best_validation: Validation | None = None
        self._best_weights: list[np.ndarray] = []
        self._validations_since_best = 0

    def train_step(self, X_batch: np.ndarray, Y_batch: np.ndarray) -> float:
        """One SGD step on a batch; returns the batch loss of the forward pass it used."""
        outputs = self.model.forward(X_batch)
        loss = self.model.loss(Y_batch, outputs)
        if not np.isfinite(loss):
            raise TrainingDivergedError(
                f"the training loss became {loss} at step {self.global_step}: the learning rate "
                f"{self.learning_rate:g} is too large for this model; try a smaller one "
                f"(e.g. --lr {self.learning_rate / 10:g})"
            )
        self.model.backward(X_batch, outputs, Y_batch)
        for w, grad, velocity in zip(self.model.ws, self.model.grads, self.velocities, strict=True):
            velocity *= self.momentum
            velocity -= self.learning_rate * grad
            w += velocity
        return loss

    def validate(self, snapshots: Sequence[Snapshot]) -> list[Validation]:
        """The validation of each snapshot, from one pass over the training and validation sets."""
        if not snapshots:
            return []
        weights = [snapshot.ws for snapshot in snapshots]
        train = self.model.evaluate_snapshots(self.X_train, self.Y_train, weights)
        val = self.model.evaluate_snapshots(self.X_val, self.Y_val, weights)
        return [
            Validation(snapshot.step, snapshot.step / self.num_batches_per_epoch, *t, *v)
            for snapshot, t, v in zip(snapshots, train, val, strict=True)
        ]

    def validation_step(self) -> Validation:
        """The validation of the current weights."""
        return self.validate([Snapshot(self.global_step, self.model.ws)])[0]

    def train(self, num_epochs: int) -> tuple[History, History]:
        """Run up to `num_epochs` epochs; return (train_history, val_history).

        Both are {"loss": {step: value}, "accuracy": {step: value}}; the training loss is the
        batch loss at every step, the accuracies and validation loss are at validation points.
        """
        progress = tqdm(range(num_epochs), desc=self.description, unit="epoch", disable=None)
        for epoch in progress:
            snapshots: list[Snapshot] = []
            try:
                self._train_epoch(snapshots)
            except TrainingDivergedError:
                # The epoch's pending validations may stop the run before the step that diverged.
                if not self._validate_epoch(snapshots, epoch):
                    raise
                break
            if self._validate_epoch(snapshots, epoch):
                break
            progress.set_postfix(val_loss=f"{self.validations[-1].val_loss:.3f}")
        progress.close()
        if self.early_stopping_patience is not None and self.best_validation is not None:
            self._restore_best_weights()
        return self.train_history, self.val_history

    def _train_epoch(self, snapshots: list[Snapshot]) -> None:
        """One pass over the training set, appending the weights at each validation point."""
        batches = batch_loader(
            self.X_train, self.Y_train, self.batch_size, self.shuffle_dataset, rng=self.rng
        )
        for X_batch, Y_batch in batches:
            self.train_history["loss"][self.global_step] = self.train_step(X_batch, Y_batch)
            if self.global_step % self.num_steps_per_val == 0:
                snapshots.append(Snapshot(self.global_step, [w.copy() for w in self.model.ws]))
            self.global_step += 1

    def _validate_epoch(self, snapshots: Sequence[Snapshot], epoch: int) -> bool:
        """Validate and record the snapshots in order; True once early stopping has stopped."""
        for snapshot, validation in zip(snapshots, self.validate(snapshots), strict=True):
            self.validations.append(validation)
            self.train_history["accuracy"][validation.step] = validation.train_accuracy
            self.val_history["loss"][validation.step] = validation.val_loss
            self.val_history["accuracy"][validation.step] = validation.val_accuracy
            if self._patience_ran_out(validation, snapshot.ws):
                self._stop(validation.step, epoch + 1)
                return True
        return False

    def _patience_ran_out(self, validation: Validation, weights: list[np.ndarray]) -> bool:
        """Keep the best validation and its weights so far; True once patience has run out."""
        if self.best_validation is None or validation.val_loss < self.best_validation.val_loss:
            self.best_validation = validation
            self._best_weights = weights
            self._validations_since_best = 0
            return False
        self._validations_since_best += 1
        patience = self.early_stopping_patience
        return patience is not None and self._validations_since_best >= patience

    def _stop(self, step: int, epoch: int) -> None:
        """End the run at `step`: forget the steps the epoch trained after it."""
        self.stopped_at_step, self.stopped_at_epoch = step, epoch
        for later_step in range(step + 1, self.global_step):
            del self.train_history["loss"][later_step]
        self.global_step = step + 1

    def _restore_best_weights(self) -> None:
        for w, best in zip(self.model.ws, self._best_weights, strict=True):
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


@dataclass(frozen=True)
class Settings:
    """Hyperparameters shared by a task's runs (from the command line)."""

    learning_rate: float
    batch_size: int
    epochs: int
    seed: int


@dataclass
class Run:
    """A finished training run: its JSON record, its histories and the trained model."""

    record: dict[str, Any]
    train_history: History
    val_history: History
    model: Model


def run_experiment(
    name: str,
    model: Model,
    data: Splits,
    settings: Settings,
    *,
    shuffle: bool,
    early_stopping_patience: int | None,
    momentum: float = 0.0,
    hyperparameters: dict[str, Any] | None = None,
    evaluate_test: bool = True,
) -> Run:
    """Train `model` with `settings`, then evaluate it on train, validation and test.

    `data` holds pre-processed inputs and targets in the form the model's loss expects.
    `hyperparameters` are extra entries for the record (e.g. l2_lambda). The test split is
    read here only, after training, and not at all with `evaluate_test` False (a
    hyperparameter search): test_loss and test_accuracy are then None.
    """
    trainer = BaseTrainer(
        model,
        settings.learning_rate,
        settings.batch_size,
        shuffle,
        data.X_train,
        data.Y_train,
        data.X_val,
        data.Y_val,
        early_stopping_patience=early_stopping_patience,
        seed=settings.seed,
        momentum=momentum,
        description=name,
    )
    start = time.perf_counter()
    train_history, val_history = trainer.train(settings.epochs)
    seconds = time.perf_counter() - start
    record: dict[str, Any] = {
        "name": name,
        "learning_rate": settings.learning_rate,
        "batch_size": settings.batch_size,
        "epochs": settings.epochs,
        "shuffle": shuffle,
        "early_stopping_patience": early_stopping_patience,
        "seed": settings.seed,
        **(hyperparameters or {}),
        "steps": trainer.global_step,
        "stopped_at_step": trainer.stopped_at_step,
        "stopped_at_epoch": trainer.stopped_at_epoch,
        "best_step": trainer.best_validation.step if trainer.best_validation else None,
    }
    for split in ("train", "val", "test"):
        if split == "test" and not evaluate_test:
            record["test_loss"] = record["test_accuracy"] = None
            continue
        X, Y = getattr(data, f"X_{split}"), getattr(data, f"Y_{split}")
        record[f"{split}_loss"], record[f"{split}_accuracy"] = evaluate(model, X, Y)
    record["seconds"] = round(seconds, 3)
    record["history"] = {
        key: [getattr(v, key) for v in trainer.validations] for key in Validation._fields
    }
    return Run(record, train_history, val_history, model)
