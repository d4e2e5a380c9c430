"""The MNIST files: where they are, checking them, and reading the IDX format.

Where the four files come from, first match wins:

1. an explicit ``data_dir`` argument (the scripts' ``--data-dir``);
2. the ``MNIST_DIR`` environment variable;
3. a download of the official files into the ``data/`` cache beside this file, checked
   against their MD5 sums (nothing is fetched when the cache already holds them).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

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

_IDX_UINT8 = 0x08
_FILE_LIST = "\n".join(f"  {name}" for name in MNIST_FILES)


class MNISTError(Exception):
    """MNIST files missing, damaged or inconsistent; the message says which, and what to do."""


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the four MNIST files, by the order in the module docstring."""
    if data_dir is not None:
        return _check_folder(Path(data_dir), "data_dir (--data-dir)")
    if os.environ.get("MNIST_DIR"):
        return _check_folder(Path(os.environ["MNIST_DIR"]), "MNIST_DIR")
    return _download(DATA_CACHE)


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
