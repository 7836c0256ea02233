"""`preprocess_line(..., return_geometry=True)`: where the model input's columns lie in the image."""

import numpy as np
import pytest

from keras_htr.data.preprocess import PreprocessConfig, preprocess_line


def _ink_columns(line, threshold=0.5):
    columns = np.flatnonzero(line[..., 0].max(axis=0) > threshold)
    return columns[0], columns[-1] + 1


@pytest.mark.parametrize("deslant", [False, True])
@pytest.mark.parametrize("crop", [False, True])
def test_geometry_maps_line_columns_back_to_image_columns(deslant, crop):
    image = np.full((60, 400), 255, np.uint8)
    image[20:44, 90:110] = 0  # two upright bars: no slant to correct, known columns
    image[20:44, 250:300] = 0
    config = PreprocessConfig(height=32, deslant=deslant, crop_margins=crop)
    line, geometry = preprocess_line(image, config, return_geometry=True)
    line, (offset, scale, width) = line.numpy(), geometry.numpy()
    assert width == 400
    np.testing.assert_array_equal(line, preprocess_line(image, config).numpy())
    # The first bar's left edge and the last bar's right edge, mapped back, within a pixel of
    # the line (one line pixel is `scale` image pixels: the resize blurs edges by about that).
    left, right = _ink_columns(line)
    assert abs(offset + scale * left - 90) <= max(1.0, scale)
    assert abs(offset + scale * right - 300) <= max(1.0, scale)
    # Between the bars: a gap in the line maps to the gap in the image.
    gap = np.flatnonzero(line[..., 0].max(axis=0) < 0.1)
    gap = gap[(gap > left) & (gap < right)]
    mapped = offset + scale * (gap + 0.5)
    assert mapped.min() >= 110 - scale and mapped.max() <= 250 + scale


def test_geometry_of_a_slanted_line_is_that_of_its_middle_row():
    image = np.full((64, 300), 255, np.uint8)
    for y in range(16, 48):  # a bar leaning right (shear 0.5), centred on column 150 at row 31.5
        x = round(150 + 0.5 * (31.5 - y))
        image[y, x - 6 : x + 6] = 0
    line, geometry = preprocess_line(image, PreprocessConfig(height=32), return_geometry=True)
    offset, scale, _ = geometry.numpy()
    left, right = _ink_columns(line.numpy())
    centre = offset + scale * (left + right) / 2
    assert abs(centre - 150) <= 2 * scale
