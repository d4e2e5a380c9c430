"""The IDX reader, the folder and download logic, pre-processing and batching."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import mnist_files
from dataloaders import (
    batch_loader,
    deskew,
    load_binary_dataset,
    load_full_mnist,
    one_hot_encode,
    pre_process_images,
    random_shift,
    shift_images,
)
from mnist_files import MNISTError, find_data_dir, read_idx


def write_idx(path: Path, array: np.ndarray, *, magic: bytes | None = None, cut: int = 0) -> Path:
    """Write `array` as a gzipped IDX file of uint8; `magic` replaces the header's, `cut` drops
    that many bytes from the end."""
    header = magic or bytes([0, 0, 0x08, array.ndim])
    sizes = np.array(array.shape, dtype=">u4").tobytes()
    raw = header + sizes + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw[: len(raw) - cut]))
    return path


def write_mnist_folder(folder: Path, num_train: int = 30, num_test: int = 10) -> Path:
    """A folder with the four MNIST files holding random images and labels."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", num_train), ("t10k", num_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, count))
    return folder


def test_read_idx_valid(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    path = write_idx(tmp_path / "images.gz", images)
    np.testing.assert_array_equal(read_idx(path, ndim=3), images)


def test_read_idx_wrong_magic_names_the_file(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels.gz", np.zeros(5), magic=bytes([0, 0, 0x0D, 1]))
    with pytest.raises(MNISTError, match=r"labels\.gz: wrong magic number 0x00000d01"):
        read_idx(path, ndim=1)


def test_read_idx_images_read_as_labels_is_refused(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "images.gz", np.zeros((3, 28, 28)))
    with pytest.raises(MNISTError, match="wrong magic number"):
        read_idx(path, ndim=1)


def test_read_idx_truncated_payload(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "images.gz", np.zeros((3, 28, 28)), cut=100)
    with pytest.raises(MNISTError, match=r"images\.gz: truncated: the header promises 2,352 bytes"):
        read_idx(path, ndim=3)


def test_read_idx_damaged_gzip(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "images.gz", np.zeros((3, 28, 28)))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(MNISTError, match=r"images\.gz: not a readable gzip file"):
        read_idx(path, ndim=3)


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    folder = write_mnist_folder(tmp_path / "mnist")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(9))
    expected = r"t10k-images-idx3-ubyte\.gz holds 10 images but .*9 labels"
    with pytest.raises(MNISTError, match=expected):
        load_full_mnist(folder)


def test_too_few_training_images_for_the_protocol(tmp_path: Path) -> None:
    folder = write_mnist_folder(tmp_path / "mnist", num_train=30)
    with pytest.raises(MNISTError, match="needs at least 24,000"):
        load_full_mnist(folder)


def test_folder_missing_files_lists_them(tmp_path: Path) -> None:
    folder = write_mnist_folder(tmp_path / "mnist")
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MNISTError, match=r"lacks train-labels-idx1-ubyte\.gz.*four MNIST files"):
        find_data_dir(folder)


def test_mnist_dir_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_mnist_folder(tmp_path / "mnist")
    monkeypatch.setenv("MNIST_DIR", str(folder))
    assert find_data_dir() == folder
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(MNISTError, match="MNIST_DIR points to"):
        find_data_dir()


def test_sha256sums_mismatch_is_reported(tmp_path: Path) -> None:
    folder = write_mnist_folder(tmp_path / "mnist")
    good = hashlib.sha256((folder / "t10k-labels-idx1-ubyte.gz").read_bytes()).hexdigest()
    (folder / "SHA256SUMS").write_text(
        f"{good}  t10k-labels-idx1-ubyte.gz\n{'0' * 64}  train-images-idx3-ubyte.gz\n",
        encoding="utf-8",
    )
    with pytest.raises(MNISTError, match=r"train-images-idx3-ubyte\.gz: checksum mismatch"):
        find_data_dir(folder)


def test_sha256sums_in_the_bsd_format_are_checked(tmp_path: Path) -> None:
    folder = write_mnist_folder(tmp_path / "mnist")
    lines = [
        f"SHA256 ({name}) = {hashlib.sha256((folder / name).read_bytes()).hexdigest()}"
        for name in mnist_files.MNIST_FILES
    ]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert find_data_dir(folder) == folder
    lines[0] = f"SHA256 (train-images-idx3-ubyte.gz) = {'0' * 64}"
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(MNISTError, match=r"train-images-idx3-ubyte\.gz: checksum mismatch"):
        find_data_dir(folder)
    (folder / "SHA256SUMS").write_text("not a checksum\n", encoding="utf-8")
    with pytest.raises(MNISTError, match=r"SHA256SUMS, line 1: not a SHA-256 checksum line"):
        find_data_dir(folder)


def test_a_copy_in_the_data_cache_is_used_without_a_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any structurally valid copy in data/ works offline, like MNIST_DIR: no MD5 demanded."""
    cache = write_mnist_folder(tmp_path / "data")
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setattr(mnist_files, "DATA_CACHE", cache)
    monkeypatch.setattr(mnist_files, "MIRRORS", ("http://127.0.0.1:9/",))
    assert find_data_dir() == cache


def test_missing_folder_says_it_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(MNISTError, match=r"nowhere, which is not an existing folder"):
        find_data_dir(tmp_path / "nowhere")


def test_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    folder = write_mnist_folder(tmp_path / "mnist")
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    with pytest.raises(MNISTError, match=r"t10k-labels-idx1-ubyte\.gz is empty \(0 bytes\)"):
        load_full_mnist(folder)


def test_labels_outside_0_to_9_name_the_file(tmp_path: Path) -> None:
    folder = write_mnist_folder(tmp_path / "mnist", num_train=24_000)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(24_000, 12))
    with pytest.raises(MNISTError, match=r"train-labels-idx1-ubyte\.gz holds the label 12"):
        load_binary_dataset(data_dir=folder)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on loopback serving a folder of MNIST files: (base URL, folder)."""
    folder = write_mnist_folder(tmp_path / "served")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    server.shutdown()
    server.server_close()


def md5s(folder: Path) -> dict[str, str]:
    return {
        name: hashlib.md5((folder / name).read_bytes()).hexdigest()
        for name in mnist_files.MNIST_FILES
    }


def test_download_verifies_and_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: tuple[str, Path]
) -> None:
    url, served = mirror
    cache = tmp_path / "cache"
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setattr(mnist_files, "DATA_CACHE", cache)
    monkeypatch.setattr(mnist_files, "MIRRORS", ("http://127.0.0.1:9/", url))
    monkeypatch.setattr(mnist_files, "MNIST_FILES", md5s(served))
    assert find_data_dir() == cache
    for name in mnist_files.MNIST_FILES:
        assert (cache / name).read_bytes() == (served / name).read_bytes()


def test_download_with_wrong_checksum_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: tuple[str, Path]
) -> None:
    url, served = mirror
    cache = tmp_path / "cache"
    wrong = {name: "0" * 32 for name in md5s(served)}
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setattr(mnist_files, "DATA_CACHE", cache)
    monkeypatch.setattr(mnist_files, "MIRRORS", (url,))
    monkeypatch.setattr(mnist_files, "MNIST_FILES", wrong)
    with pytest.raises(MNISTError, match="checksum mismatch"):
        find_data_dir()
    assert not any(cache.glob("*-ubyte.gz"))


def test_no_data_and_no_network_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setattr(mnist_files, "DATA_CACHE", tmp_path / "cache")
    monkeypatch.setattr(mnist_files, "MIRRORS", ("http://127.0.0.1:9/",))
    with pytest.raises(MNISTError, match=r"set MNIST_DIR .*train-images-idx3-ubyte\.gz"):
        find_data_dir()


def test_pre_process_images_range_and_bias() -> None:
    X = np.array([[0] * 784, [255] * 784, list(range(0, 784 * 3, 3)[:784])]) % 256
    processed = pre_process_images(X.astype(np.uint8))
    assert processed.shape == (3, 785)
    np.testing.assert_array_equal(processed[:, -1], 1.0)
    np.testing.assert_array_equal(processed[0, :-1], -1.0)
    np.testing.assert_array_equal(processed[1, :-1], 1.0)
    assert processed[:, :-1].min() >= -1 and processed[:, :-1].max() <= 1


def test_pre_process_images_refuses_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \[N, 784\]"):
        pre_process_images(np.zeros((2, 28, 28)))


def test_one_hot_encode() -> None:
    encoded = one_hot_encode(np.array([[3], [0], [9]]), 10)
    assert encoded.shape == (3, 10)
    np.testing.assert_array_equal(encoded.argmax(axis=1), [3, 0, 9])
    np.testing.assert_array_equal(encoded.sum(axis=1), 1)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        one_hot_encode(np.array([10]), 10)


def test_batch_loader_covers_every_sample_once() -> None:
    X = np.arange(10).reshape(10, 1)
    batches = list(batch_loader(X, X, batch_size=3, drop_last=False))
    assert [len(x) for x, _ in batches] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), X)


def test_batch_loader_drop_last() -> None:
    X = np.arange(10).reshape(10, 1)
    assert [len(x) for x, _ in batch_loader(X, X, batch_size=3)] == [3, 3, 3]


def test_batch_loader_shuffle_changes_order_not_content() -> None:
    X = np.arange(100).reshape(100, 1)
    Y = X * 2
    batches = list(batch_loader(X, Y, batch_size=10, shuffle=True, rng=1))
    seen = np.concatenate([x for x, _ in batches])
    assert not np.array_equal(seen, X)
    np.testing.assert_array_equal(np.sort(seen, axis=0), X)
    for x, y in batches:
        np.testing.assert_array_equal(y, 2 * x)
    again = np.concatenate([x for x, _ in batch_loader(X, Y, 10, shuffle=True, rng=1)])
    np.testing.assert_array_equal(seen, again)


def test_protocol_splits(mnist_dir: Path) -> None:
    full = load_full_mnist(mnist_dir)
    assert [len(a) for a in full] == [20_000, 20_000, 4_000, 4_000, 10_000, 10_000]
    assert full.X_train.shape[1] == 784 and full.X_train.dtype == np.uint8
    assert set(np.unique(full.Y_train)) == set(range(10))
    binary = load_binary_dataset(2, 3, mnist_dir)
    for split in ("train", "val", "test"):
        labels = getattr(full, f"Y_{split}")[:, 0]
        targets = getattr(binary, f"Y_{split}")[:, 0]
        assert set(np.unique(targets)) == {0, 1}
        assert targets.sum() == np.sum(labels == 2)
        assert len(targets) == np.sum((labels == 2) | (labels == 3))


def image_with_stroke(columns_per_row: dict[int, float]) -> np.ndarray:
    """A pre-processed image [1, 785]: background -1, ink 1 at (row, round(column))."""
    image = -np.ones((28, 28))
    for row, column in columns_per_row.items():
        image[row, round(column)] = 1.0
    return np.append(image.ravel(), 1.0)[None, :]


def ink_column_per_row(X: np.ndarray) -> np.ndarray:
    """Centre of the ink (x + 1) along each row that has ink, for a single image."""
    ink = (X[0, :784] + 1).reshape(28, 28)
    rows = ink.sum(axis=1) > 0.5
    return (ink[rows] @ np.arange(28)) / ink[rows].sum(axis=1)


def test_deskew_makes_a_slanted_stroke_upright_and_keeps_an_upright_one() -> None:
    slanted = image_with_stroke({row: 4 + 0.6 * row for row in range(4, 24)})
    upright = image_with_stroke(dict.fromkeys(range(4, 24), 13))
    assert np.ptp(ink_column_per_row(slanted)) > 10
    deskewed = deskew(slanted)
    assert np.ptp(ink_column_per_row(deskewed)) < 1.5
    np.testing.assert_allclose(deskew(upright), upright, atol=1e-9)
    assert deskewed[0, -1] == 1.0 and deskewed.min() >= -1 and deskewed.max() <= 1


def test_deskew_keeps_dtype_and_copes_with_a_blank_image() -> None:
    blank = -np.ones((3, 785), dtype=np.float32)
    blank[:, -1] = 1.0
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        deskewed = deskew(blank)
    assert deskewed.dtype == np.float32
    np.testing.assert_array_equal(deskewed, blank)


# ---------------------------------------------------------------- augmentation


def random_images(n: int, seed: int = 0, dtype: type = np.float64) -> np.ndarray:
    """Pre-processed-like images [n, 785]: background -1, random ink in a 20x20 middle square."""
    rng = np.random.default_rng(seed)
    images = -np.ones((n, 28, 28))
    images[:, 4:24, 4:24] = rng.uniform(-1, 1, (n, 20, 20))
    return np.hstack([images.reshape(n, 784), np.ones((n, 1))]).astype(dtype)


def moved(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """One image [785] moved by (dy, dx) the slow way: pixel by pixel."""
    out = np.append(-np.ones(784), image[-1])
    for row in range(28):
        for column in range(28):
            if 0 <= row - dy < 28 and 0 <= column - dx < 28:
                out[row * 28 + column] = image[(row - dy) * 28 + column - dx]
    return out


def test_shift_images_moves_each_image_by_its_own_offset() -> None:
    X = random_images(5)
    dy, dx = np.array([0, 1, -2, 3, -1]), np.array([0, -1, 2, 0, 27])
    shifted = shift_images(X, dy, dx)
    for n in range(5):
        np.testing.assert_array_equal(shifted[n], moved(X[n], dy[n], dx[n]))
    np.testing.assert_array_equal(shifted[0], X[0])  # offset (0, 0): unchanged
    np.testing.assert_array_equal(shifted[4, :784], -1.0)  # moved out of the frame
    np.testing.assert_array_equal(X, random_images(5))  # the input is left alone


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_shift_keeps_pixel_range_bias_and_dtype(dtype: type) -> None:
    X = random_images(200, dtype=dtype)
    shifted = random_shift(X, 2, np.random.default_rng(0))
    assert shifted.dtype == dtype and shifted.shape == X.shape
    np.testing.assert_array_equal(shifted[:, -1], 1.0)
    assert shifted[:, :784].min() >= -1 and shifted[:, :784].max() <= 1
    # Every pixel is a pixel of the same image or background: no value is made up.
    for original, new in zip(X, shifted, strict=True):
        assert np.isin(new[:784], np.append(original[:784], -1.0)).all()


def test_random_shift_draws_every_offset_within_the_limit_and_no_other() -> None:
    X = random_images(300)
    shifted = random_shift(X, 1, np.random.default_rng(3))
    found = []
    for original, new in zip(X, shifted, strict=True):
        offsets = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if np.array_equal(new, moved(original, dy, dx))
        ]
        assert len(offsets) == 1  # the random ink makes every offset look different
        found += offsets
    assert set(found) == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}


def test_random_shift_is_seeded_and_deterministic() -> None:
    X = random_images(50)
    first = random_shift(X, 2, np.random.default_rng(7))
    np.testing.assert_array_equal(first, random_shift(X, 2, np.random.default_rng(7)))
    assert not np.array_equal(first, random_shift(X, 2, np.random.default_rng(8)))
    np.testing.assert_array_equal(random_shift(X, 0, np.random.default_rng(7)), X)
