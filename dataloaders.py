"""MNIST for the course: the splits of the protocol, pre-processing, and mini-batches.

The protocol, the same for every task: train = the first 20,000 training images, validation =
training images 20,000-23,999 (curves and early stopping), test = the 10,000 official test images
(final numbers only). `prepare_data` turns the splits into what the models train on.
Finding, downloading, checking and reading the files is support/mnist_files.py's job; Task 5's
image transformations (deskewing, shifts) are in image_transforms.py.
"""

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from support.mnist_files import MNISTError, find_data_dir, read_idx

TRAIN_SIZE = 20_000
VALIDATION_END = 24_000
IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE
# Train, validation, test samples kept by --quick: 1,280 training images make 10 batches of 128,
# so that the trainer validates every 2 steps, 5 times per epoch (about as often as in the full
# runs), and a patience of 10 validations still means about two epochs.
QUICK_SPLIT_SIZES = (1280, 300, 300)


# A NamedTuple is a tuple whose items have names too: data.X_train, or unpacked in order as the
# course's code unpacks its (X_train, Y_train, X_val, Y_val, ...) tuple.
class Splits(NamedTuple):
    """Train, validation and test arrays."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray


def load_full_mnist(data_dir: str | os.PathLike | None = None) -> Splits:
    """The ten-class splits: X uint8 [N, 784] (not yet pre-processed), Y int64 [N, 1] in 0..9."""
    return _load_raw(find_data_dir(data_dir).resolve())


def load_binary_dataset(
    class1: int = 2, class2: int = 3, data_dir: str | os.PathLike | None = None
) -> Splits:
    """The splits filtered to two digits: target 1 for `class1`, 0 for `class2`. Y is [N, 1]."""
    full = load_full_mnist(data_dir)
    arrays = []
    for split in ("train", "val", "test"):
        X, Y = getattr(full, f"X_{split}"), getattr(full, f"Y_{split}")
        keep = (Y[:, 0] == class1) | (Y[:, 0] == class2)
        arrays += [X[keep], (Y[keep] == class1).astype(np.int64)]
    return Splits(*arrays)


def pre_process_images(X: np.ndarray, dtype: DTypeLike = np.float64) -> np.ndarray:
    """Map pixels 0..255 to [-1, 1] and append a column of ones (the bias trick).

    X: [N, 784] pixel values. Returns [N, 785] of `dtype`; the last column is 1.
    """
    if X.ndim != 2 or X.shape[1] != IMAGE_PIXELS:
        raise ValueError(f"pre_process_images expects images of shape [N, 784], got {X.shape}")
    if X.size and (X.min() < 0 or X.max() > 255):
        raise ValueError("pre_process_images expects raw pixel values in 0..255")
    out = np.ones((X.shape[0], IMAGE_PIXELS + 1), dtype=dtype)
    out[:, :IMAGE_PIXELS] = X / 127.5 - 1.0
    return out


def one_hot_encode(Y: np.ndarray, num_classes: int, dtype: DTypeLike = np.float64) -> np.ndarray:
    """Integer labels [N, 1] (or [N]) to one-hot rows [N, num_classes]."""
    labels = np.asarray(Y).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}"
        )
    encoded = np.zeros((labels.size, num_classes), dtype=dtype)
    encoded[np.arange(labels.size), labels] = 1
    return encoded


def prepare_data(
    raw: Splits, num_classes: int | None, dtype: DTypeLike = np.float64, quick: bool = False
) -> Splits:
    """The splits as the models train on them: pre-processed images and encoded targets.

    `raw`: splits as loaded (X uint8 [N, 784], Y [N, 1]). Images go through
    `pre_process_images` ([N, 785]); targets stay a [N, 1] column of 0 and 1 with `num_classes`
    None (binary), else are one-hot ([N, num_classes]). Every array is of `dtype`, which the
    models take from X_train. With `quick`, only the first QUICK_SPLIT_SIZES samples of each
    split are kept (a trial run in seconds).
    """
    arrays = []
    for split, size in zip(("train", "val", "test"), QUICK_SPLIT_SIZES, strict=True):
        X, Y = getattr(raw, f"X_{split}"), getattr(raw, f"Y_{split}")
        if quick:
            X, Y = X[:size], Y[:size]
        targets = Y.astype(dtype) if num_classes is None else one_hot_encode(Y, num_classes, dtype)
        arrays += [pre_process_images(X, dtype), targets]
    return Splits(*arrays)


def batch_loader(
    X: np.ndarray,
    Y: np.ndarray,
    batch_size: int,
    shuffle: bool = False,
    drop_last: bool = True,
    rng: np.random.Generator | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (X_batch, Y_batch) covering the data once (one epoch).

    Without `shuffle`, batches are slices (views) in the data's order. With it, `rng` draws a
    random order of the samples and each batch gathers the next `batch_size` samples of it; each
    call draws a new order, so the same generator passed every epoch shuffles every epoch anew.
    With `drop_last`, a final batch smaller than `batch_size` is left out.
    """
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} samples but Y has {len(Y)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if shuffle and rng is None:
        raise ValueError("shuffle=True needs rng, a random generator (np.random.default_rng(seed))")
    num_samples = len(X) - len(X) % batch_size if drop_last else len(X)
    # Gathering batch by batch writes each copy into cache and needs no second, permuted
    # copy of the training set (63 MB in float32); measured a little faster than copying it.
    order = rng.permutation(len(X)) if shuffle else None
    for start in range(0, num_samples, batch_size):
        end = start + batch_size
        if order is None:
            yield X[start:end], Y[start:end]
        else:
            indices = order[start:end]  # the next batch_size samples of the random order
            yield X[indices], Y[indices]


# lru_cache keeps the result of the last calls: reading and checking the files takes seconds,
# and a process that loads the data again (the tests do, often) reads them only once.
@functools.lru_cache(maxsize=4)
def _load_raw(folder: Path) -> Splits:
    """All labelled images of the protocol, unprocessed: X uint8 [N, 784], Y int64 [N, 1]."""
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images_path = folder / f"{prefix}-images-idx3-ubyte.gz"
        labels_path = folder / f"{prefix}-labels-idx1-ubyte.gz"
        images = read_idx(images_path, ndim=3)
        labels = read_idx(labels_path, ndim=1)
        if images.shape[0] != labels.shape[0]:
            raise MNISTError(
                f"{images_path} holds {images.shape[0]:,} images but {labels_path} holds "
                f"{labels.shape[0]:,} labels: the pair does not belong together."
            )
        if labels.size and labels.max() > 9:
            raise MNISTError(
                f"{labels_path} holds the label {labels.max()}, but MNIST labels are 0..9: "
                "the file is not an MNIST label file; replace it with a good copy"
            )
        if images.shape[1:] != (28, 28):
            raise MNISTError(f"{images_path}: images are {images.shape[1:]}, expected (28, 28).")
        arrays[split] = (images.reshape(-1, IMAGE_PIXELS), labels.astype(np.int64).reshape(-1, 1))
    (X_all, Y_all), (X_test, Y_test) = arrays["train"], arrays["test"]
    if X_all.shape[0] < VALIDATION_END:
        raise MNISTError(
            f"{folder / 'train-images-idx3-ubyte.gz'} holds {X_all.shape[0]:,} images; "
            f"the protocol needs at least {VALIDATION_END:,} (train {TRAIN_SIZE:,} + validation "
            f"{VALIDATION_END - TRAIN_SIZE:,})."
        )
    return Splits(
        X_all[:TRAIN_SIZE],
        Y_all[:TRAIN_SIZE],
        X_all[TRAIN_SIZE:VALIDATION_END],
        Y_all[TRAIN_SIZE:VALIDATION_END],
        X_test,
        Y_test,
    )
