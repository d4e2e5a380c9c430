"""Task 5's trainer: the course's loop (trainer.py) with momentum, a cosine learning rate and
shifted batches, which Tasks 2 to 4 do not use.

`Task5Trainer` overrides two steps of `BaseTrainer`: `train_step` shifts each training batch
before the step (`augment`), and `update` moves the weights with momentum at the learning rate
of the step (`learning_rate_at`). It validates once per epoch and never stops early. It trains
the network (TwoLayerModel, weights w1 and w2) and softmax regression alike, through the list of
every model's weight arrays, `model.ws`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from trainer import BaseTrainer, History, TrainingDivergedError

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # (X_batch, rng) -> X_batch

# With no early stopping, validation only draws the curves: once per epoch is enough, and
# evaluating the whole training and validation sets five times per epoch nearly doubled the
# time of a run.
VALIDATIONS_PER_EPOCH = 1


def learning_rate_at(
    step: int, total_steps: int, learning_rate: float, cosine_decay: bool = True
) -> float:
    """The learning rate of the update from `step` (0 to total_steps - 1): `learning_rate`, or
    with `cosine_decay` learning_rate * (1 + cos(pi step / total_steps)) / 2, from learning_rate
    at step 0 down towards 0."""
    if not cosine_decay:
        return learning_rate
    progress = step / total_steps
    return 0.5 * learning_rate * (1 + math.cos(math.pi * progress))


class Task5Trainer(BaseTrainer):
    """`BaseTrainer` without early stopping, with Task 5's options; `args` and `description`
    are BaseTrainer's (model, learning_rate, batch_size, shuffle_dataset, X_train, Y_train,
    X_val, Y_val).

    Each update: for every parameter w with gradient g and velocity v (0 at the start),
    v <- momentum * v - lr * g and w <- w + v, with lr = `learning_rate_at` the step (constant
    without `cosine_decay`). `augment(X, rng)` returns a changed copy of each training batch X
    for its step (the targets stay); its rng comes from `seed` too but is not the shuffling
    one, so the batch order does not depend on it.
    """

    def __init__(
        self,
        *args,
        momentum: float,
        cosine_decay: bool,
        augment: Augment | None,
        seed: int = 0,
        description: str = "training",
    ) -> None:
        super().__init__(*args, early_stopping_patience=None, seed=seed, description=description)
        self.momentum = momentum
        self.cosine_decay = cosine_decay
        self.augment = augment
        self.augment_rng = np.random.default_rng([seed, 1])
        self.velocities = [np.zeros_like(w) for w in self.model.ws]
        self.num_steps_per_val = max(1, self.num_batches_per_epoch // VALIDATIONS_PER_EPOCH)
        self.total_steps = 0  # of the whole run, set by train()

    def train(self, num_epochs: int) -> History:
        """BaseTrainer.train, knowing the number of steps the schedule runs over."""
        self.total_steps = num_epochs * self.num_batches_per_epoch
        return super().train(num_epochs)

    def train_step(self, X_batch: np.ndarray, Y_batch: np.ndarray) -> float:
        """BaseTrainer.train_step on the batch as `augment` changes it."""
        if self.augment is not None:
            X_batch = self.augment(X_batch, self.augment_rng)
        return super().train_step(X_batch, Y_batch)

    def update(self) -> None:
        """SGD with momentum at the learning rate of the step."""
        learning_rate = learning_rate_at(
            self.global_step, self.total_steps, self.learning_rate, self.cosine_decay
        )
        # model.ws lists the model's own weight arrays, not copies: `w += velocity` changes them
        # in place, in the model.
        for w, grad, velocity in zip(self.model.ws, self.model.grads, self.velocities, strict=True):
            velocity *= self.momentum
            velocity -= learning_rate * grad
            w += velocity

    def divergence_error(self, loss: float) -> TrainingDivergedError:
        """The learning rate's advice, unless weight decay alone overshoots: in
        w <- (1 - lr * lambda) w - lr * grad(C), from lr * lambda = 1 on every weight is
        pushed to zero or past it at each step."""
        decay = self.learning_rate * self.model.l2_reg_lambda
        if decay < 1:
            return super().divergence_error(loss)
        return TrainingDivergedError(
            f"the training loss became {loss} at step {self.global_step}: the L2 penalty may be "
            f"the cause: learning rate times lambda is {decay:g}, and from 1 on weight decay "
            "overshoots zero at every step; keep it well below 1 (a smaller --l2, or --lr)"
        )
