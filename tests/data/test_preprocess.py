import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_htr.data.preprocess import ImageError, PreprocessConfig, load_image, preprocess_line, probe_image


def _line(width=300, height=60, slant=0.0, bars=8):
    """White page with `bars` dark vertical strokes, sheared by `slant` (dx per row upwards)."""
    img = np.full((height, width), 255, np.uint8)
    for i in range(bars):
        x0 = 30 + i * (width - 60) // bars
        for y in range(10, height - 10):
            x = x0 + int(round((height - 10 - y) * slant))
            img[y, x: x + 4] = 20
    return img


def _save(image: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


# ----- load_image


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "1", "CMYK", "I;16", "RGBA", "LA"])
def test_load_image_modes_to_gray(mode):
    gray = np.full((20, 30), 255, np.uint8)
    gray[5:15, 10:20] = 0
    base = Image.fromarray(gray)
    if mode == "I;16":
        image = Image.fromarray(gray.astype(np.uint16) * 257)
        assert image.mode.startswith("I;16")
    elif mode == "P":
        image = base.convert("RGB").convert("P")
    else:
        image = base.convert(mode)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    out = load_image(_save(image, fmt))
    assert out.dtype == np.uint8 and out.shape == (20, 30)
    assert out[10, 15] < 30 and out[0, 0] > 225


def _gray_square():
    gray = np.full((20, 30), 255, np.uint8)
    gray[5:15, 10:20] = 0
    gray[0, :6] = (1, 50, 100, 128, 200, 254)  # a few mid-tones
    return gray


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda g: g.astype(np.float32) / 255.0, id="float32_0_1"),
        pytest.param(lambda g: g.astype(np.float64) / 255.0, id="float64_0_1"),
        pytest.param(lambda g: g.astype(np.float32), id="float32_0_255"),
        pytest.param(lambda g: g.astype(np.uint16) * 257, id="uint16"),
        pytest.param(lambda g: g.astype(np.int32), id="int32_0_255"),
        pytest.param(lambda g: g.astype(np.int32) * 257, id="int32_16bit"),
        pytest.param(lambda g: (g.astype(np.float32) / 255.0)[..., None], id="float_hw1"),
        pytest.param(lambda g: np.repeat(g[..., None], 3, -1) / 255.0, id="float_rgb_0_1"),
        pytest.param(lambda g: np.repeat(g[..., None], 3, -1).astype(np.uint16) * 257, id="uint16_rgb"),
    ],
)
def test_load_image_arrays_of_any_dtype_load_like_uint8(convert):
    gray = _gray_square()
    np.testing.assert_array_equal(load_image(convert(gray)), gray)


def test_load_image_bool_and_bad_arrays():
    ink = np.ones((4, 6), bool)
    ink[1:3, 2:4] = False  # True is white paper, as in Pillow's mode "1"
    out = load_image(ink)
    assert out.dtype == np.uint8 and out[0, 0] == 255 and out[1, 2] == 0
    nan = np.full((4, 6), np.nan, np.float32)
    with pytest.raises(ImageError, match="finite"):
        load_image(nan)
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((2, 3, 5), np.uint8))


def test_rgba_transparent_is_white_paper():
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent black
    rgba[4:6, 4:6] = (0, 0, 0, 255)  # opaque ink
    out = load_image(_save(Image.fromarray(rgba, "RGBA")))
    assert out[0, 0] == 255 and out[5, 5] == 0


def test_exif_orientation_applied():
    gray = np.full((10, 40), 255, np.uint8)
    gray[:, :5] = 0  # ink on the left edge
    image = Image.fromarray(gray)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    out = load_image(_save(image, "JPEG", exif=exif))
    assert out.shape == (40, 10)
    assert out[:5].mean() < 100 and out[-5:].mean() > 200  # left edge became the top


def test_bad_images_raise_image_error_naming_file(tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(_save(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)))[:200])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for path in (corrupt, truncated, empty, tmp_path / "missing.png"):
        with pytest.raises(ImageError, match=path.name):
            load_image(path)
    assert issubclass(ImageError, ValueError)


def test_decompression_bomb_refused_from_header(tmp_path):
    # 12000 x 12000 bilevel: a small file that would decode to 144 Mpx.
    path = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000), 1).save(path)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(path)
    with pytest.raises(ImageError, match="decompression bomb"):
        probe_image(path)
    with pytest.raises(ImageError, match="exceeds"):
        load_image(_save(Image.new("L", (100, 100))), max_pixels=5000)


# ----- preprocess_line


def test_output_height_range_and_dtype():
    config = PreprocessConfig(height=32)
    out = preprocess_line(_line(), config)
    assert out.dtype == tf.float32 and out.shape[0] == 32 and out.shape[2] == 1
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0
    assert float(tf.reduce_max(out)) > 0.9  # ink is 1


def test_accepts_channel_axis_and_inside_tf_function():
    config = PreprocessConfig(height=24)
    fn = tf.function(lambda g: preprocess_line(g, config), input_signature=[tf.TensorSpec([None, None, 1], tf.uint8)])
    a = fn(_line()[..., None])
    b = preprocess_line(_line(), config)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_white_and_gray_background_map_to_zero():
    img = _line()
    gray_paper = np.where(img == 255, 180, 40).astype(np.uint8)  # gray paper, dark-gray ink
    for image in (img, gray_paper):
        out = preprocess_line(image, PreprocessConfig(deslant=False))[..., 0].numpy()
        assert out.max() > 0.9
        # Most of the line is paper, and paper is 0.
        assert np.mean(out < 0.05) > 0.5
    blank = np.full((40, 100), 250, np.uint8)
    blank[::3, ::7] = 235  # faint dirt, no ink
    assert float(tf.reduce_max(preprocess_line(blank))) < 0.3


def test_crop_margins():
    img = np.full((200, 800), 255, np.uint8)
    img[90:110, 300:400] = 0
    config = PreprocessConfig(height=32, deslant=False, margin=0.0)
    out = preprocess_line(img, config)
    assert out.shape[1] == 160  # 100 x 20 box scaled to height 32
    no_crop = preprocess_line(img, PreprocessConfig(height=32, deslant=False, crop_margins=False, margin=0.0))
    assert no_crop.shape[1] == 128
    img[5, 790] = img[195, 3] = 0  # isolated specks far from the line
    assert preprocess_line(img, config).shape[1] == 160


@pytest.mark.parametrize("corner", [(0, 0), (0, -1), (-1, 0), (-1, -1)])
def test_speck_in_a_corner_does_not_widen_the_crop(corner):
    # A corner pixel has 3 neighbours inside the image: an average over the valid pixels
    # times 9 counted 2.25 "neighbours" for a lone speck there and kept it as ink.
    img = np.full((40, 400), 255, np.uint8)
    img[15:25, 150:250] = 0  # a 10 x 100 line
    config = PreprocessConfig(height=32, deslant=False, normalize_contrast=False, margin=0.0)
    clean = preprocess_line(img, config).numpy()
    assert clean.shape == (32, 320, 1)
    img[corner] = 0
    np.testing.assert_array_equal(preprocess_line(img, config).numpy(), clean)


def _column_spread(out):
    cols = (out[..., 0].numpy() > 0.5).sum(axis=0)
    return int((cols > 0).sum())


def test_slant_removed_on_sheared_strokes():
    upright = preprocess_line(_line(slant=0.0), PreprocessConfig(deslant=False))
    sheared = _line(slant=0.6)
    kept = preprocess_line(sheared, PreprocessConfig(deslant=False))
    fixed = preprocess_line(sheared, PreprocessConfig(deslant=True))
    assert _column_spread(kept) > 2 * _column_spread(upright)
    assert _column_spread(fixed) < 1.5 * _column_spread(upright)
    # Upright strokes are left alone.
    assert _column_spread(preprocess_line(_line(slant=0.0))) <= _column_spread(upright) + 2


def test_binarize_gives_two_levels():
    out = preprocess_line(_line(), PreprocessConfig(binarize=True)).numpy()
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert out.max() == 1.0


def test_config_round_trip_and_validation():
    config = PreprocessConfig(height=48, deslant=False, binarize=True)
    assert PreprocessConfig.from_config(config.get_config()) == config
    with pytest.raises(ValueError, match="height"):
        PreprocessConfig(height=4)
    with pytest.raises(ValueError, match="Unknown"):
        PreprocessConfig.from_config({"hieght": 32})
    with pytest.raises(ValueError, match="max_width"):
        PreprocessConfig(max_width=16)


def test_degenerate_strip_is_capped_at_max_width():
    strip = np.full((2, 300), 255, np.uint8)
    strip[:, ::3] = 0
    assert preprocess_line(strip, PreprocessConfig(max_width=256)).shape == (32, 256, 1)
