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

from dataloaders import (
    QUICK_SPLIT_SIZES,
    Splits,
    batch_loader,
    load_binary_dataset,
    load_full_mnist,
    one_hot_encode,
    pre_process_images,
    prepare_data,
)
from support import mnist_files
from support.mnist_files import MNISTError, find_data_dir, read_idx


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
    rng = np.random.default_rng(1)
    batches = list(batch_loader(X, Y, batch_size=10, shuffle=True, rng=rng))
    seen = np.concatenate([x for x, _ in batches])
    assert not np.array_equal(seen, X)
    np.testing.assert_array_equal(np.sort(seen, axis=0), X)
    for x, y in batches:
        np.testing.assert_array_equal(y, 2 * x)
    # The same generator again (the next epoch): a new order; a new one of the same seed: the same.
    next_epoch = np.concatenate([x for x, _ in batch_loader(X, Y, 10, shuffle=True, rng=rng)])
    assert not np.array_equal(next_epoch, seen)
    rerun = batch_loader(X, Y, 10, shuffle=True, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(np.concatenate([x for x, _ in rerun]), seen)


def test_batch_loader_shuffles_only_with_a_generator() -> None:
    X = np.arange(10).reshape(10, 1)
    with pytest.raises(ValueError, match="shuffle=True needs rng"):
        list(batch_loader(X, X, batch_size=5, shuffle=True))


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


def test_prepare_data_encodes_the_targets_keeps_the_dtype_and_cuts_the_quick_subset() -> None:
    rng = np.random.default_rng(0)
    arrays = []
    for size in (1500, 400, 350):
        arrays += [rng.integers(0, 256, (size, 784)), rng.integers(0, 10, (size, 1))]
    raw = Splits(*arrays)
    full = prepare_data(raw, num_classes=10, dtype=np.float32)
    assert full.X_train.shape == (1500, 785) and full.Y_train.shape == (1500, 10)
    assert all(array.dtype == np.float32 for array in full)
    np.testing.assert_array_equal(full.Y_val.argmax(axis=1), raw.Y_val[:, 0])
    quick = prepare_data(raw, num_classes=None, quick=True)
    assert [len(quick.X_train), len(quick.X_val), len(quick.X_test)] == list(QUICK_SPLIT_SIZES)
    assert quick.Y_test.shape == (QUICK_SPLIT_SIZES[2], 1) and quick.Y_test.dtype == np.float64
    whole = prepare_data(raw, num_classes=None)
    np.testing.assert_array_equal(quick.X_train, whole.X_train[: QUICK_SPLIT_SIZES[0]])
