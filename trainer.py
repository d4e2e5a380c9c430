"""The training loop of Tasks 2 to 4: mini-batch SGD with early stopping (the course's BaseTrainer).

Task 5 trains with a subclass, Task5Trainer (task5_trainer.py), which adds momentum, a decaying
learning rate and shifted batches; Tasks 2 to 4 use none of them.
"""

import math
import time

import numpy as np
from tqdm import tqdm

from dataloaders import batch_loader
from logistic_regression import BinaryModel
from softmax_regression import SoftmaxModel

# Validations without improvement before early stopping ends a run: the course's value, and
# every task that stops early (2 to 4) uses it.
EARLY_STOPPING_PATIENCE = 10

# What a run measured (`BaseTrainer.history`; a run's "history" in results/<task>.json), by step:
# step s is the number of updates done so far, and a value at step s is measured with the weights
# after s updates (step 0: the initial weights). Its keys: see `BaseTrainer.__init__`.
History = dict[str, list]


def evaluate(
    model: BinaryModel | SoftmaxModel, X: np.ndarray, Y: np.ndarray
) -> tuple[float, float]:
    """(loss, accuracy) of `model` with its current weights on a whole split, one forward pass."""
    outputs = model.forward(X)
    return model.loss(Y, outputs), model.accuracy(Y, outputs)


class TrainingDivergedError(ArithmeticError):
    """The training loss became NaN or infinite."""


class BaseTrainer:
    """Train `model` on (X_train, Y_train) by mini-batch SGD, validating on (X_val, Y_val).

    `train(num_epochs)` runs the epochs; one step (`train_step`) is the forward pass of a batch,
    its loss, `backward` and the update of the model's weights, model.w (`update`). About five
    times per epoch `validation_step` measures the whole training and validation sets. Early
    stopping keeps a copy of the weights of the lowest validation loss (`keep_if_best`), ends the
    run once `early_stopping_patience` validations in a row have not improved on it
    (`should_stop`; None: never) and puts those weights back at the end, also when the run used
    all its epochs. Task5Trainer also trains Task 5's TwoLayerModel, which has no single w: it
    replaces `update` and never stops early.
    """

    def __init__(
        self,
        model: BinaryModel | SoftmaxModel,
        learning_rate: float,
        batch_size: int,
        shuffle_dataset: bool,
        X_train: np.ndarray,
        Y_train: np.ndarray,
        X_val: np.ndarray,
        Y_val: np.ndarray,
        *,  # the course's arguments end here: the ones below must be given by name
        early_stopping_patience: int | None = EARLY_STOPPING_PATIENCE,
        seed: int = 0,
        description: str = "training",
    ) -> None:
        if len(X_train) < batch_size:
            raise ValueError(
                f"batch size {batch_size} is larger than the training set ({len(X_train)} samples)"
            )
        self.model = model  # the caller's model itself, not a copy: training changes its w
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.shuffle_dataset = shuffle_dataset
        self.X_train, self.Y_train = X_train, Y_train
        self.X_val, self.Y_val = X_val, Y_val
        self.early_stopping_patience = early_stopping_patience
        self.description = description  # the run's name, in messages
        # One generator for the whole run: each epoch draws the next random order from it.
        self.rng = np.random.default_rng(seed)
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
        # The validation point of the lowest validation loss so far. Only early stopping puts
        # its weights back: without it, the run ends with the weights of its last step.
        self.best_step: int | None = None
        self.best_val_loss = math.inf
        self.best_w: np.ndarray | None = None  # a copy of model.w at best_step (early stopping)
        self.validations_since_best = 0
        self.seconds = 0.0  # how long train() took

    def train_step(self, X_batch: np.ndarray, Y_batch: np.ndarray) -> float:
        """One update on a batch; returns the batch's loss, measured before the update."""
        outputs = self.model.forward(X_batch)
        loss = self.model.loss(Y_batch, outputs)
        if not np.isfinite(loss):
            raise self.divergence_error(loss)
        self.model.backward(X_batch, outputs, Y_batch)  # sets self.model.grad
        self.update()  # changes self.model.w
        return loss

    def update(self) -> None:
        """Plain SGD: the model's weights take one step against the gradient of the batch.

        For logistic regression, grad = -1/N X^T (y - yhat), so the step adds
        learning_rate/N X^T (y - yhat): the two minus signs cancel.
        """
        self.model.w -= self.learning_rate * self.model.grad

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
        # A progress bar over the epochs (disable=None: none when the output is not a terminal).
        progress = tqdm(range(num_epochs), desc=self.description, unit="epoch", disable=None)
        for _ in progress:
            # The epoch's batches: in the data's order, or with shuffling in a new random order
            # each epoch (the next one self.rng draws); a last, smaller batch sits the epoch out.
            batches = batch_loader(
                self.X_train, self.Y_train, self.batch_size, self.shuffle_dataset, rng=self.rng
            )
            for X_batch, Y_batch in batches:
                self.history["batch_loss"].append(self.train_step(X_batch, Y_batch))
                self.global_step += 1
                # Validate when the course's loop does: right after the first update and every n
                # updates after it (steps 1, 1 + n, ...; the course counts them 0, n, ...).
                if (self.global_step - 1) % self.num_steps_per_val == 0:
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
        """Early stopping's bookkeeping: note the step and validation loss of the lowest validation
        loss so far (with early stopping, keep a copy of its weights too), and count the
        validations since it."""
        if self.best_step is None or point["val_loss"] < self.best_val_loss:
            self.best_step, self.best_val_loss = point["step"], point["val_loss"]
            if self.early_stopping_patience is not None:
                self.best_w = self.model.w.copy()  # a copy: the next updates change model.w
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
        self.model.w = self.best_w
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
