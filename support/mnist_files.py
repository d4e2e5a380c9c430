"""The MNIST files: where they are, checking them, and reading the IDX format.

Where the four files come from, first match wins:

1. an explicit ``data_dir`` argument (the scripts' ``--data-dir``);
2. the ``MNIST_DIR`` environment variable;
3. the ``data/`` cache beside this file, when it holds the four files (a copy put there by
   hand is fine);
4. a download of the official files into ``data/``, checked against their MD5 sums.

A folder's files are checked for their structure as they are read (gzip, IDX header, sizes),
and against their SHA-256 sums when a ``SHA256SUMS`` file lies beside them (GNU or BSD format).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import zlib
from pathlib import Path

import numpy as np

DATA_CACHE = Path(__file__).resolve().parents[1] / "data"  # data/ at the top of the repository

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
_FILE_LIST = ", ".join(MNIST_FILES)


class MNISTError(Exception):
    """MNIST files missing, damaged or inconsistent; the message says which, and what to do."""


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the four MNIST files, by the order in the module docstring."""
    if data_dir is not None:
        return _check_folder(Path(data_dir), "data_dir (--data-dir)")
    if os.environ.get("MNIST_DIR"):
        return _check_folder(Path(os.environ["MNIST_DIR"]), "MNIST_DIR")
    if all((DATA_CACHE / name).is_file() for name in MNIST_FILES):
        return _check_folder(DATA_CACHE, "the data/ cache")
    return _download(DATA_CACHE)


def _check_folder(folder: Path, source: str) -> Path:
    if not folder.is_dir():
        raise MNISTError(
            f"{source} points to {folder}, which is not an existing folder; point it at the "
            f"folder that holds the four MNIST files ({_FILE_LIST})"
        )
    missing = [name for name in MNIST_FILES if not (folder / name).is_file()]
    if missing:
        raise MNISTError(
            f"{source} points to {folder}, which lacks {', '.join(missing)}; the folder must "
            f"hold the four MNIST files ({_FILE_LIST})"
        )
    _check_sha256sums(folder)
    return folder


# SHA256SUMS lines: GNU "<hash>  <name>" (or " *<name>"), BSD "SHA256 (<name>) = <hash>".
_GNU_LINE = re.compile(r"(?P<hash>[0-9a-fA-F]{64}) [ *](?P<name>.+)")
_BSD_LINE = re.compile(r"SHA256 \((?P<name>.+)\) = (?P<hash>[0-9a-fA-F]{64})")


def _check_sha256sums(folder: Path) -> None:
    """Verify the files against a SHA256SUMS list when the folder ships one."""
    listing = folder / "SHA256SUMS"
    if not listing.is_file():
        return
    for number, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        match = _GNU_LINE.fullmatch(line.strip()) or _BSD_LINE.fullmatch(line.strip())
        if match is None:
            raise MNISTError(
                f"{listing}, line {number}: not a SHA-256 checksum line in the GNU "
                "('<hash>  <file>') or BSD ('SHA256 (<file>) = <hash>') format; fix or delete it"
            )
        expected, name = match["hash"].lower(), match["name"]
        if name in MNIST_FILES:
            actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            if actual != expected:
                raise MNISTError(
                    f"{folder / name}: checksum mismatch (SHA-256 {actual}, SHA256SUMS lists "
                    f"{expected}); the file is damaged: replace it with a good copy"
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
                f"no MNIST data found and no verified copy of {name} could be downloaded "
                f"({'; '.join(errors)}); set MNIST_DIR to a folder with the four files "
                f"({_FILE_LIST}), or pass --data-dir"
            )
    return cache


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes with `ndim` dimensions.

    The header is: two zero bytes, the type code (0x08 = uint8), the number of dimensions, then
    one big-endian uint32 per dimension. The sizes come from the header, never assumed.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise MNISTError(f"{path} is empty (0 bytes); replace it with a good copy of the file")
    try:
        with gzip.open(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise MNISTError(
            f"{path}: not a readable gzip file ({exc}); the file is damaged or incomplete: "
            "replace it with a good copy"
        ) from exc
    header_size = 4 + 4 * ndim
    expected_magic = bytes([0, 0, _IDX_UINT8, ndim])
    if raw[:4] != expected_magic:
        found = raw[:4].hex() or "nothing"
        raise MNISTError(
            f"{path}: wrong magic number 0x{found}, expected 0x{expected_magic.hex()} "
            f"(an IDX file of uint8 with {ndim} dimension(s)); is this the right MNIST file?"
        )
    if len(raw) < header_size:
        raise MNISTError(f"{path}: truncated header ({len(raw)} bytes); fetch the file again")
    shape = tuple(int(size) for size in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected_bytes = int(np.prod(shape))
    payload = len(raw) - header_size
    if payload != expected_bytes:
        problem = "truncated" if payload < expected_bytes else "longer than its header says"
        raise MNISTError(
            f"{path}: {problem}: the header promises {expected_bytes:,} bytes of data for shape "
            f"{shape}, the file holds {payload:,}; fetch the file again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)
