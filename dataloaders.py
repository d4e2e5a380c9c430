"""MNIST for the course: the splits of the protocol, pre-processing, and mini-batches.

The protocol, the same for every task: train = the first 20,000 training images, validation =
training images 20,000-23,999 (curves and early stopping), test = the 10,000 official test images
(final numbers only). Finding, checking and reading the files is mnist_files.py's job.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from mnist_files import MNISTError, find_data_dir, read_idx

TRAIN_SIZE = 20_000
VALIDATION_END = 24_000
IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE
DESKEW_CHUNK = 1000  # images per pass: small temporaries, several times faster than one pass


class Splits(NamedTuple):
    """Train, validation and test arrays; unpacks like the tuple the course code expects."""

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


def deskew(X: np.ndarray) -> np.ndarray:
    """Shear every image so that its slant becomes vertical (the deskewing of LeCun et al. 1998).

    X: pre-processed images [N, 785] (pixels in [-1, 1], background -1, last column the bias).
    With ink p = x + 1 >= 0 on the 28x28 grid, centre of mass (r0, c0) and slant
    alpha = cov(r, c) / var(r), output pixel (r, c) is the input at (r, c + alpha (r - r0)),
    interpolated linearly between the two nearest pixels of the row (background beyond the
    edge). Returns a new [N, 785] array of X's dtype, bias column unchanged.
    """
    deskewed = X.copy()
    for start in range(0, len(X), DESKEW_CHUNK):
        rows = slice(start, start + DESKEW_CHUNK)
        deskewed[rows, :IMAGE_PIXELS] = _deskew_chunk(X[rows, :IMAGE_PIXELS])
    return deskewed


def _deskew_chunk(pixels: np.ndarray) -> np.ndarray:
    """`deskew` of pixels [n, 784] (no bias column) -> [n, 784]."""
    n = len(pixels)
    coordinates = np.arange(IMAGE_SIDE, dtype=pixels.dtype)
    ink = (pixels + 1).reshape(n, IMAGE_SIDE, IMAGE_SIDE)
    ink_per_row = ink.sum(axis=2)  # [n, 28]
    column_moment_per_row = ink @ coordinates  # [n, 28]: sum over c of c p(r, c)
    mass = np.maximum(ink_per_row.sum(axis=1), np.finfo(pixels.dtype).tiny)
    mean_row = ink_per_row @ coordinates / mass
    mean_column = column_moment_per_row.sum(axis=1) / mass
    row_variance = ink_per_row @ coordinates**2 / mass - mean_row**2
    covariance = column_moment_per_row @ coordinates / mass - mean_row * mean_column
    slant = covariance / np.maximum(row_variance, 1e-3)  # 0 for an empty or one-row image
    shift = slant[:, None] * (coordinates - mean_row[:, None])  # [n, 28], one per image row
    # Source column of every output pixel, one image row per line; -1 and 28 are background.
    source = np.clip(coordinates + shift.reshape(-1, 1), -1, IMAGE_SIDE)
    left = np.minimum(np.floor(source), IMAGE_SIDE - 1)
    fraction = source - left
    padded = np.pad(pixels.reshape(-1, IMAGE_SIDE), ((0, 0), (1, 1)), constant_values=-1)
    index = left.astype(np.intp) + 1
    left_value = np.take_along_axis(padded, index, axis=1)
    right_value = np.take_along_axis(padded, index + 1, axis=1)
    return (left_value + fraction * (right_value - left_value)).reshape(n, IMAGE_PIXELS)


def shift_images(X: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Move image n of X by dy[n] pixels down and dx[n] pixels right (negative: up, left).

    X: pre-processed images [N, 785] (pixels in [-1, 1], background -1, last column the bias);
    dy, dx: whole numbers [N]. Output pixel (r, c) is input pixel (r - dy, c - dx): pixels moved
    out of the 28x28 frame are lost, the uncovered border is background (-1). Returns a new
    [N, 785] array of X's dtype, bias column unchanged.
    """
    n, m = len(X), int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    images = X[:, :IMAGE_PIXELS].reshape(n, IMAGE_SIDE, IMAGE_SIDE)
    shifted = np.full_like(images, -1.0)
    # One copy of the overlapping rectangle per offset, for all images with that offset at once.
    for row_offset in range(-m, m + 1):
        to_rows, from_rows = _overlap(row_offset)
        for column_offset in range(-m, m + 1):
            to_columns, from_columns = _overlap(column_offset)
            chosen = (dy == row_offset) & (dx == column_offset)
            shifted[chosen, to_rows, to_columns] = images[chosen, from_rows, from_columns]
    out = X.copy()
    out[:, :IMAGE_PIXELS] = shifted.reshape(n, IMAGE_PIXELS)
    return out


def _overlap(offset: int) -> tuple[slice, slice]:
    """Along one axis of an image moved by `offset` pixels: (where the pixels go, where they
    come from); a shift by at least IMAGE_SIDE leaves nothing."""
    offset = max(-IMAGE_SIDE, min(offset, IMAGE_SIDE))
    to = slice(max(offset, 0), IMAGE_SIDE + min(offset, 0))
    return to, slice(max(-offset, 0), IMAGE_SIDE - max(offset, 0))


def random_shift(X: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """`shift_images` by random offsets: data augmentation, since a digit moved by a pixel or
    two is still the same digit.

    Each image of X [N, 785] gets its own dy and dx, drawn uniformly from
    -max_shift..max_shift by `rng` (so the same rng state gives the same shifts).
    """
    dy, dx = rng.integers(-max_shift, max_shift + 1, size=(2, len(X)))
    return shift_images(X, dy, dx)


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


def batch_loader(
    X: np.ndarray,
    Y: np.ndarray,
    batch_size: int,
    shuffle: bool = False,
    drop_last: bool = True,
    rng: np.random.Generator | int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (X_batch, Y_batch) covering the data once (one epoch).

    With `shuffle`, the samples are permuted once, by `rng` (a seed or a Generator), and each
    batch gathers the next `batch_size` samples of that order; without it, batches are slices
    (views) in the data's order. With `drop_last`, a final batch smaller than `batch_size` is
    left out.
    """
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} samples but Y has {len(Y)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    num_samples = len(X) - len(X) % batch_size if drop_last else len(X)
    # Gathering batch by batch writes each copy into cache and needs no second, permuted
    # copy of the training set (63 MB in float32); measured a little faster than copying it.
    order = np.random.default_rng(rng).permutation(len(X)) if shuffle else None
    for start in range(0, num_samples, batch_size):
        batch = (
            slice(start, start + batch_size) if order is None else order[start : start + batch_size]
        )
        yield X[batch], Y[batch]


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
