"""Task 5's image transformations: deskewing, and shifts for data augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from image_transforms import deskew, random_shift, shift_images


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
