"""MNIST: finding the files, reading them, splitting them by the course protocol, and batching.

Where the four IDX files come from, first match wins:

1. an explicit ``data_dir`` argument (the scripts' ``--data-dir``);
2. the ``MNIST_DIR`` environment variable;
3. the ``data/`` cache beside this file;
4. a download of the official files into ``data/``, checked against their MD5 sums.

The protocol, the same for every task: train = the first 20,000 training images, validation =
training images 20,000-23,999 (curves and early stopping), test = the 10,000 official test images
(final numbers only).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike

DATA_CACHE = Path(__file__).resolve().parent / "data"

# name -> official MD5 (the files of the original MNIST distribution).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

TRAIN_SIZE = 20_000
VALIDATION_END = 24_000
IMAGE_PIXELS = 28 * 28

_IDX_UINT8 = 0x08
_FILE_LIST = "\n".join(f"  {name}" for name in MNIST_FILES)


class MNISTError(Exception):
    """MNIST files missing, damaged or inconsistent; the message says which, and what to do."""


class Splits(NamedTuple):
    """Train, validation and test arrays; unpacks like the tuple the course code expects."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes with `ndim` dimensions.

    The header is: two zero bytes, the type code (0x08 = uint8), the number of dimensions, then
    one big-endian uint32 per dimension. The sizes come from the header, never assumed.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise MNISTError(
            f"{path}: not a readable gzip file ({exc}). The file is damaged or incomplete: "
            "delete it and fetch it again."
        ) from exc
    header_size = 4 + 4 * ndim
    expected_magic = bytes([0, 0, _IDX_UINT8, ndim])
    if raw[:4] != expected_magic:
        found = raw[:4].hex() or "nothing"
        raise MNISTError(
            f"{path}: wrong magic number 0x{found}, expected 0x{expected_magic.hex()} "
            f"(an IDX file of uint8 with {ndim} dimension(s)). Is this the right MNIST file?"
        )
    if len(raw) < header_size:
        raise MNISTError(f"{path}: truncated header ({len(raw)} bytes). Fetch the file again.")
    shape = tuple(int(size) for size in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected_bytes = int(np.prod(shape))
    payload = len(raw) - header_size
    if payload != expected_bytes:
        problem = "truncated" if payload < expected_bytes else "longer than its header says"
        raise MNISTError(
            f"{path}: {problem}: the header promises {expected_bytes:,} bytes of data for shape "
            f"{shape}, the file holds {payload:,}. Fetch the file again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def _check_folder(folder: Path, source: str) -> Path:
    missing = [name for name in MNIST_FILES if not (folder / name).is_file()]
    if missing:
        raise MNISTError(
            f"{source} points to {folder}, which lacks {', '.join(missing)}. "
            f"The folder must hold the four MNIST files:\n{_FILE_LIST}"
        )
    _check_sha256sums(folder)
    return folder


def _check_sha256sums(folder: Path) -> None:
    """Verify the files against a SHA256SUMS list when the folder ships one."""
    listing = folder / "SHA256SUMS"
    if not listing.is_file():
        return
    for line in listing.read_text().splitlines():
        if not line.strip():
            continue
        expected, name = line.split()
        name = name.lstrip("*")
        if name in MNIST_FILES:
            actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            if actual != expected:
                raise MNISTError(
                    f"{folder / name}: checksum mismatch (SHA-256 {actual}, SHA256SUMS lists "
                    f"{expected}). The file is damaged: replace it with a good copy."
                )


def _download(cache: Path) -> Path:
    """Fetch the official files into `cache` with pooch, hash-checked; try each mirror in turn."""
    import pooch

    for name, md5 in MNIST_FILES.items():
        errors = []
        for mirror in MIRRORS:
            try:
                url = mirror + name
                pooch.retrieve(url, known_hash=f"md5:{md5}", fname=name, path=cache)
                break
            except ValueError:  # pooch's hash mismatch; it keeps no bad download
                errors.append(f"{mirror}: checksum mismatch")
            except OSError as exc:  # requests' and urllib's network errors are OSErrors
                errors.append(f"{mirror}: {exc.__class__.__name__}")
        else:
            raise MNISTError(
                f"No MNIST data found and no verified copy of {name} could be downloaded "
                f"({'; '.join(errors)}).\n"
                "Set MNIST_DIR to a folder with the four files (or pass --data-dir):\n"
                f"{_FILE_LIST}"
            )
    return cache


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the four MNIST files, by the order in the module docstring."""
    if data_dir is not None:
        return _check_folder(Path(data_dir), "data_dir (--data-dir)")
    if os.environ.get("MNIST_DIR"):
        return _check_folder(Path(os.environ["MNIST_DIR"]), "MNIST_DIR")
    return _download(DATA_CACHE)


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
