"""tinynet.data.transforms: conversions, crops, flips and affine warps."""
import math

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import transforms as T


def image(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, shape).astype(dtype)


# ---------------------------------------------------------------- ToTensor / Normalize
def test_to_tensor_uint8_gray_and_color():
    gray = image((5, 7))
    t = T.ToTensor()(gray)
    assert isinstance(t, tn.Tensor) and t.shape == (1, 5, 7) and t.dtype == tn.float32
    np.testing.assert_array_equal(t.numpy()[0], gray.astype(np.float32) / np.float32(255))
    color = image((5, 7, 3))
    t = T.ToTensor()(color)
    assert t.shape == (3, 5, 7)
    np.testing.assert_array_equal(t.numpy(), color.transpose(2, 0, 1) / np.float32(255))
    assert t.numpy().min() >= 0 and t.numpy().max() <= 1


def test_to_tensor_keeps_other_dtypes_unscaled():
    x = np.linspace(0, 3, 12).reshape(3, 4)
    t = T.ToTensor()(x)
    assert t.dtype == tn.float64
    np.testing.assert_array_equal(t.numpy()[0], x)


def test_to_tensor_pil_image():
    Image = pytest.importorskip("PIL.Image")
    arr = image((4, 6, 3))
    t = T.ToTensor()(Image.fromarray(arr))
    np.testing.assert_array_equal(t.numpy(), arr.transpose(2, 0, 1) / np.float32(255))


def test_to_tensor_errors():
    with pytest.raises(ValueError, match=r"ToTensor: expected an image of shape.*got shape \(3,\)"):
        T.ToTensor()(np.zeros(3, np.uint8))
    with pytest.raises(TypeError, match="already a Tensor"):
        T.ToTensor()(tn.zeros(1, 2, 2))


def test_normalize_values_and_dtype():
    x = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    out = T.Normalize(mean, std)(tn.tensor(x))
    assert out.dtype == tn.float32
    m, s = np.array(mean, np.float32)[:, None, None], np.array(std, np.float32)[:, None, None]
    expected = (x - m) / s
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    batch = T.Normalize(0.5, 2.0)(np.ones((2, 1, 3, 3)))      # scalars, batched, float64 array
    assert isinstance(batch, np.ndarray) and batch.dtype == np.float64
    np.testing.assert_array_equal(batch, np.full((2, 1, 3, 3), 0.25))


def test_normalize_inplace():
    x = tn.ones(2, 2, 2)
    out = T.Normalize((1.0, 0.0), (1.0, 0.5), inplace=True)(x)
    assert out is x
    np.testing.assert_array_equal(x.numpy()[1], np.full((2, 2), 2.0))


def test_normalize_errors():
    with pytest.raises(ValueError, match="image has 3 channels but mean has 2 values"):
        T.Normalize((0.1, 0.2), (1, 1))(tn.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="std contains a zero"):
        T.Normalize(0.0, (1.0, 0.0))
    with pytest.raises(ValueError, match=r"floating image of shape \(\.\.\., C, H, W\), "
                                         r"got \(2, 2\)"):
        T.Normalize(0.0, 1.0)(tn.zeros(2, 2))


def test_normalize_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).random((3, 4, 4)).astype(np.float32)
    mean, std = [0.1, 0.2, 0.3], [0.9, 0.8, 0.7]
    m, s = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    ref = (torch.from_numpy(x) - m) / s
    np.testing.assert_allclose(T.Normalize(mean, std)(tn.tensor(x)).numpy(), ref.numpy(), rtol=1e-6)


# ---------------------------------------------------------------- crops and flips
def test_random_crop_is_a_window_of_the_padded_image():
    tn.manual_seed(0)
    img = tn.tensor(image((2, 6, 6)).astype(np.float32))
    crop = T.RandomCrop(6, padding=2, fill=-1.0)
    padded = np.pad(img.numpy(), [(0, 0), (2, 2), (2, 2)], constant_values=-1.0)
    offsets = set()
    for _ in range(300):
        out = crop(img)
        assert out.shape == (2, 6, 6) and out.dtype == tn.float32
        match = [(i, j) for i in range(5) for j in range(5)
                 if np.array_equal(padded[:, i:i + 6, j:j + 6], out.numpy())]
        assert match, "the crop is not a window of the padded image"
        offsets.update(match)
    assert offsets == {(i, j) for i in range(5) for j in range(5)}   # every position occurs


def test_random_crop_sizes_modes_and_errors():
    arr = image((5, 4))
    out = T.RandomCrop((3, 2))(arr)
    assert isinstance(out, np.ndarray) and out.shape == (3, 2) and out.dtype == np.uint8
    assert T.RandomCrop(8, pad_if_needed=True)(arr).shape == (8, 8)
    edge = T.RandomCrop(7, padding=(1, 1, 2, 1), padding_mode="edge")(arr)
    assert edge.shape == (7, 7)
    with pytest.raises(ValueError, match=r"crop size \(6, 6\) is larger than the \(padded\) "
                                         r"image \(5, 4\)"):
        T.RandomCrop(6)(arr)
    with pytest.raises(ValueError, match="padding_mode"):
        T.RandomCrop(2, padding_mode="wrap")


def test_crops_follow_manual_seed():
    img = image((3, 10, 10))
    crop = T.RandomCrop(5)
    tn.manual_seed(7)
    a = [crop(img) for _ in range(5)]
    tn.manual_seed(7)
    b = [crop(img) for _ in range(5)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_horizontal_and_vertical_flip():
    img = tn.tensor(image((3, 4, 5)))
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(img).numpy(), img.numpy()[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(img).numpy(), img.numpy())
    np.testing.assert_array_equal(T.RandomVerticalFlip(1.0)(img).numpy(), img.numpy()[:, ::-1])
    tn.manual_seed(0)
    flip = T.RandomHorizontalFlip(0.3)
    flipped = sum(not np.array_equal(flip(img).numpy(), img.numpy()) for _ in range(1000))
    assert 230 < flipped < 370            # ~Binomial(1000, 0.3), fixed seed
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 2"):
        T.RandomHorizontalFlip(2)


# ---------------------------------------------------------------- affine warps
@pytest.mark.parametrize("interp", ["nearest", "bilinear"])
def test_affine_identity(interp):
    img = image((2, 5, 7)).astype(np.float32)
    np.testing.assert_array_equal(T.affine(img, 0.0, interpolation=interp), img)


@pytest.mark.parametrize("angle, k", [(90, 1), (180, 2), (-90, -1), (270, 3)])
@pytest.mark.parametrize("interp", ["nearest", "bilinear"])
def test_affine_quarter_turns_match_rot90(angle, k, interp):
    # positive angles turn counter-clockwise as displayed, like np.rot90
    img = image((3, 6, 6))
    out = T.affine(img, angle, interpolation=interp)
    np.testing.assert_array_equal(out, np.rot90(img, k, axes=(1, 2)))
    assert out.dtype == np.uint8


def test_affine_translation_is_a_shift_with_fill():
    img = image((4, 5)).astype(np.float64)
    out = T.affine(img, translate=(2, -1), fill=-3.0)
    expected = np.full_like(img, -3.0)
    expected[:3, 2:] = img[1:, :3]
    np.testing.assert_array_equal(out, expected)


def test_affine_bilinear_is_exact_on_linear_ramps():
    H = W = 9
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    ramp = 2.0 * xx - 0.5 * yy + 1.0
    angle = 20.0
    out = T.affine(ramp, angle, interpolation="bilinear", fill=np.nan)
    a = math.radians(angle)
    c = (W - 1) / 2
    sx = c + math.cos(a) * (xx - c) - math.sin(a) * (yy - c)
    sy = c + math.sin(a) * (xx - c) + math.cos(a) * (yy - c)
    inside = (sx >= 0) & (sx <= W - 1) & (sy >= 0) & (sy <= H - 1)
    inside &= (sx < W - 1) & (sy < H - 1)           # all four neighbours inside the image
    np.testing.assert_allclose(out[inside], (2.0 * sx - 0.5 * sy + 1.0)[inside], atol=1e-12)
    assert np.isnan(out[0, 0])                      # a corner comes from outside: fill


@pytest.mark.parametrize("interp", ["nearest", "bilinear"])
def test_affine_matches_torch_grid_sample(interp):
    torch = pytest.importorskip("torch")
    img = np.random.default_rng(3).standard_normal((2, 11, 11))
    angle, scale = 23.0, 1.1
    a = math.radians(angle)
    # affine_grid maps output to input coordinates; for a square image with
    # align_corners=True, normalised coordinates are pixel coordinates scaled about the centre
    theta = torch.tensor([[[math.cos(a), -math.sin(a), 0.0],
                           [math.sin(a), math.cos(a), 0.0]]], dtype=torch.float64) / scale
    grid = torch.nn.functional.affine_grid(theta, (1, 2, 11, 11), align_corners=True)
    ref = torch.nn.functional.grid_sample(torch.from_numpy(img)[None], grid, mode=interp,
                                          padding_mode="zeros", align_corners=True)[0]
    out = T.affine(img, angle, scale=scale, interpolation=interp, fill=0.0)
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-10)


def test_affine_errors():
    with pytest.raises(ValueError, match="interpolation must be 'nearest' or 'bilinear', "
                                         "got 'cubic'"):
        T.affine(np.zeros((3, 3)), 10, interpolation="cubic")
    with pytest.raises(ValueError, match=r"expected an image of shape \(\.\.\., H, W\), "
                                         r"got shape \(3,\)"):
        T.affine(np.zeros(3), 10)
    with pytest.raises(TypeError, match="expected a Tensor or an array"):
        T.affine([[1, 2], [3, 4]], 10)


def test_random_rotation_and_affine_parameters():
    tn.manual_seed(0)
    rot = T.RandomRotation(10)
    angles = [rot.get_params(8, 8)[0] for _ in range(500)]
    assert min(angles) >= -10 and max(angles) <= 10 and min(angles) < -9 and max(angles) > 9
    aff = T.RandomAffine((5, 15), translate=(0.25, 0.5), scale=(0.9, 1.1))
    for _ in range(200):
        angle, (dx, dy), scale = aff.get_params(8, 4)
        assert 5 <= angle <= 15 and abs(dx) <= 1 and abs(dy) <= 4 and 0.9 <= scale <= 1.1
        assert isinstance(dx, int) and isinstance(dy, int)
    with pytest.raises(ValueError, match=r"degrees range must be \(min, max\)"):
        T.RandomRotation((10, -10))
    with pytest.raises(ValueError, match="translate fractions must be in"):
        T.RandomAffine(0, translate=(2, 0))


def test_random_rotation_keeps_kind_dtype_and_follows_seed():
    img = tn.tensor(image((1, 8, 8)).astype(np.float32) / 255)
    rot = T.RandomRotation(15, interpolation="bilinear")
    tn.manual_seed(4)
    a = rot(img)
    tn.manual_seed(4)
    b = rot(img)
    assert isinstance(a, tn.Tensor) and a.shape == (1, 8, 8) and a.dtype == tn.float32
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), img.numpy())


def test_compose_and_lambda_pipeline():
    tn.manual_seed(0)
    pipeline = T.Compose([
        T.ToTensor(),
        T.RandomCrop(6, padding=1),
        T.RandomHorizontalFlip(),
        T.RandomRotation(5),
        T.Normalize((0.5,), (0.5,)),
        T.Lambda(lambda t: t * 2),
    ])
    out = pipeline(image((6, 6)))
    assert isinstance(out, tn.Tensor) and out.shape == (1, 6, 6) and out.dtype == tn.float32
    assert -2.0 <= out.numpy().min() and out.numpy().max() <= 2.0
    assert "RandomCrop" in repr(pipeline)
    with pytest.raises(TypeError, match="Lambda: expected a callable"):
        T.Lambda(3)
