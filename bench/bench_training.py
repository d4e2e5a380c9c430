"""Time the shared trainer on the course workloads, and an equivalent PyTorch loop if installed.

Workloads (early stopping off, fixed epochs, validation every 20 % of an epoch computing the
loss and accuracy on the whole training and validation sets):
softmax regression on the 20,000 training images, and logistic regression on 2 vs 3.

    python bench/bench_training.py [--epochs 10] [--repeats 5] [--scripts]

--scripts also times the task scripts with their defaults: one after another, and side by side
as `make figures` runs them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = ("task4.py", "task3.py", "task5.py", "task2.py")  # longest first, as make_report.py
sys.path.insert(0, str(REPO))

import support.require_python  # noqa: E402, F401 (first: an older Python stops here, in one line)

# isort: split

from dataloaders import Splits, load_binary_dataset, load_full_mnist, prepare_data  # noqa: E402
from logistic_regression import BinaryModel  # noqa: E402
from reporting.make_report import ONE_BLAS_THREAD  # noqa: E402
from softmax_regression import SoftmaxModel  # noqa: E402
from trainer import BaseTrainer  # noqa: E402


class TimedTrainer(BaseTrainer):
    """BaseTrainer that adds up the time spent in validation."""

    validation_seconds = 0.0

    def validation_step(self) -> dict[str, float]:
        start = time.perf_counter()
        validation = super().validation_step()
        self.validation_seconds += time.perf_counter() - start
        return validation


def prepare(load, num_classes: int | None, dtype: str) -> Splits:
    """The task's splits, pre-processed as the scripts do, in `dtype`."""
    return prepare_data(load(), num_classes, dtype)


def time_numpy(model_factory, data: Splits, lr: float, epochs: int, repeats: int) -> dict:
    best = None
    for _ in range(repeats):
        trainer = TimedTrainer(
            model_factory(),
            lr,
            128,
            True,
            data.X_train,
            data.Y_train,
            data.X_val,
            data.Y_val,
            early_stopping_patience=None,
        )
        start = time.perf_counter()
        trainer.train(epochs)
        seconds = time.perf_counter() - start
        if best is None or seconds < best["seconds"]:
            best = {
                "seconds": seconds,
                "steps": trainer.global_step,
                "validation": trainer.validation_seconds,
            }
    return best


def time_torch(data: Splits, lr: float, epochs: int, repeats: int, binary: bool) -> dict | None:
    """The same work in PyTorch on the CPU: autograd for the gradient, plain SGD."""
    try:
        import torch
    except ImportError:
        return None
    X_train, X_val = torch.from_numpy(data.X_train), torch.from_numpy(data.X_val)
    if binary:
        Y_train = torch.from_numpy(data.Y_train)
        Y_val = torch.from_numpy(data.Y_val)
    else:
        Y_train = torch.from_numpy(data.Y_train.argmax(axis=1))
        Y_val = torch.from_numpy(data.Y_val.argmax(axis=1))
    batches = len(X_train) // 128
    steps_per_val = batches // 5
    best = None
    for _ in range(repeats):
        w = torch.zeros(X_train.shape[1], 1 if binary else 10, requires_grad=True)
        generator = torch.Generator().manual_seed(0)

        def loss_fn(logits, targets):
            if binary:
                return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
            return torch.nn.functional.cross_entropy(logits, targets)

        def correct(logits, targets):
            if binary:
                return ((logits >= 0).float() == targets).float().mean()
            return (logits.argmax(1) == targets).float().mean()

        start = time.perf_counter()
        validation = 0.0
        step = 0
        for _ in range(epochs):
            order = torch.randperm(len(X_train), generator=generator)
            X_epoch, Y_epoch = X_train[order], Y_train[order]
            for b in range(batches):
                X, Y = X_epoch[b * 128 : (b + 1) * 128], Y_epoch[b * 128 : (b + 1) * 128]
                loss = loss_fn(X @ w, Y)
                w.grad = None
                loss.backward()
                with torch.no_grad():
                    w -= lr * w.grad
                if step % steps_per_val == 0:
                    v_start = time.perf_counter()
                    with torch.no_grad():
                        for X_split, Y_split in ((X_train, Y_train), (X_val, Y_val)):
                            logits = X_split @ w
                            loss_fn(logits, Y_split).item(), correct(logits, Y_split).item()
                    validation += time.perf_counter() - v_start
                step += 1
        seconds = time.perf_counter() - start
        if best is None or seconds < best["seconds"]:
            best = {"seconds": seconds, "steps": step, "validation": validation}
    return best


def report(name: str, numpy_result: dict, torch_result: dict | None) -> None:
    ms = 1000 * numpy_result["seconds"] / numpy_result["steps"]
    share = numpy_result["validation"] / numpy_result["seconds"]
    line = (
        f"{name:<28}{ms:>8.3f} ms/step {numpy_result['steps'] / numpy_result['seconds']:>8.0f}"
        f" steps/s   validation {share:>4.0%}"
    )
    if torch_result is not None:
        torch_ms = 1000 * torch_result["seconds"] / torch_result["steps"]
        line += f"   pytorch {torch_ms:.3f} ms/step, ratio {torch_ms / ms:.2f}x"
    print(line)


def run_script(script: str, env: dict[str, str]) -> float:
    """Seconds that `python script` takes, with its default settings."""
    start = time.perf_counter()
    subprocess.run([sys.executable, script], cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def time_scripts() -> None:
    """The task scripts one after another, then side by side as `make figures` runs them.

    Side by side: as many at once as there are cores, longest first, one BLAS thread each.
    Results and figures go to a temporary folder, not to results/ and figures/.
    """
    with tempfile.TemporaryDirectory() as output:
        env = {**os.environ, "RESULTS_DIR": output, "FIGURES_DIR": output}
        total = 0.0
        for script in SCRIPTS:
            seconds = run_script(script, env)
            total += seconds
            print(f"python {script:<21}{seconds:>7.1f} s")
        print(f"{'one after another':<28}{total:>7.1f} s")
        start = time.perf_counter()
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            one_thread = partial(run_script, env={**env, **ONE_BLAS_THREAD})
            list(pool.map(one_thread, SCRIPTS))
        print(f"{'side by side (make figures)':<28}{time.perf_counter() - start:>7.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="best of this many runs")
    parser.add_argument("--scripts", action="store_true", help="also time the task scripts")
    args = parser.parse_args()
    for dtype in ("float32", "float64"):
        softmax = prepare(load_full_mnist, 10, dtype)
        binary = prepare(load_binary_dataset, None, dtype)
        compare = dtype == "float32"  # the PyTorch loop runs in float32
        report(
            f"softmax regression, {dtype}",
            time_numpy(
                partial(SoftmaxModel, dtype=dtype), softmax, 0.01, args.epochs, args.repeats
            ),
            time_torch(softmax, 0.01, args.epochs, args.repeats, binary=False) if compare else None,
        )
        report(
            f"logistic regression, {dtype}",
            time_numpy(partial(BinaryModel, dtype=dtype), binary, 0.05, args.epochs, args.repeats),
            time_torch(binary, 0.05, args.epochs, args.repeats, binary=True) if compare else None,
        )
    if args.scripts:
        time_scripts()


if __name__ == "__main__":
    main()
