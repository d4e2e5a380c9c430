"""Task 5's transformations of the input images: deskewing, and shifts for data augmentation.

Both take and return pre-processed images [N, 785] (pixels in [-1, 1], background -1, the
last column the bias, which they leave unchanged), as `dataloaders.prepare_data` makes them.
"""

from __future__ import annotations

import numpy as np

from dataloaders import IMAGE_PIXELS, IMAGE_SIDE

DESKEW_CHUNK = 1000  # images per pass: small temporaries, several times faster than one pass


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
