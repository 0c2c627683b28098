"""The nn modules added for real PyTorch programs (activations, padding,
upsampling, pixel shuffle, instance norm, similarity) against PyTorch live:
the torch module's state_dict (as NumPy) is loaded into the tinynet module,
then outputs, input gradients, parameter gradients and reprs must agree.
Also: ``inplace=True`` really writes into the input, and the errors."""
import warnings

import numpy as np
import pytest
import torch

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F

tnn = torch.nn
TF = torch.nn.functional


def arr(*shape, seed=0, scale=1.0, dtype=np.float32):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def load_from_torch(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def check_same(ours, theirs, *xs, rtol=1e-5, atol=1e-6):
    """Forward and backward of both modules on the same inputs and output weights."""
    a = [tn.tensor(x, requires_grad=True) for x in xs]
    b = [torch.tensor(x, requires_grad=True) for x in xs]
    y, ty = ours(*a), theirs(*b)
    assert y.shape == tuple(ty.shape) and y.dtype == a[0].dtype
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    gy = arr(*y.shape, seed=7)
    y.backward(tn.tensor(gy))
    ty.backward(torch.tensor(gy))
    for k, (u, v) in enumerate(zip(a, b)):
        np.testing.assert_allclose(u.grad.numpy(), v.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {k}")
    theirs_params = dict(theirs.named_parameters())
    assert sorted(theirs_params) == sorted(n for n, _ in ours.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(),
                                   rtol=rtol, atol=atol, err_msg=f"gradient of {name}")


# name: (constructor on either nn namespace, input shapes, input scale)
MODULES = {
    "SiLU": (lambda m: m.SiLU(), [(3, 4)], 3),
    "Mish": (lambda m: m.Mish(), [(3, 4)], 3),
    "Hardtanh": (lambda m: m.Hardtanh(), [(3, 4)], 2),
    "Hardtanh_range": (lambda m: m.Hardtanh(-0.5, 2.0), [(3, 4)], 2),
    "ReLU6": (lambda m: m.ReLU6(), [(3, 4)], 5),
    "Hardsigmoid": (lambda m: m.Hardsigmoid(), [(3, 4)], 4),
    "Hardswish": (lambda m: m.Hardswish(), [(3, 4)], 4),
    "SELU": (lambda m: m.SELU(), [(3, 4)], 2),
    "CELU": (lambda m: m.CELU(alpha=0.5), [(3, 4)], 2),
    "LogSigmoid": (lambda m: m.LogSigmoid(), [(3, 4)], 5),
    "Softsign": (lambda m: m.Softsign(), [(3, 4)], 2),
    "Tanhshrink": (lambda m: m.Tanhshrink(), [(3, 4)], 2),
    "GLU": (lambda m: m.GLU(), [(3, 4)], 1),
    "GLU_dim1": (lambda m: m.GLU(dim=1), [(2, 6, 3)], 1),
    "PReLU": (lambda m: m.PReLU(), [(2, 3, 4)], 1),
    "PReLU_channels": (lambda m: m.PReLU(3, init=0.1), [(2, 3, 4, 2)], 1),
    "ReflectionPad1d": (lambda m: m.ReflectionPad1d((2, 1)), [(2, 3, 4)], 1),
    "ReflectionPad2d": (lambda m: m.ReflectionPad2d(2), [(1, 2, 3, 4)], 1),
    "ReflectionPad2d_unbatched": (lambda m: m.ReflectionPad2d((1, 0, 2, 1)), [(2, 3, 4)], 1),
    "ReplicationPad1d": (lambda m: m.ReplicationPad1d(3), [(2, 3, 2)], 1),
    "ReplicationPad2d": (lambda m: m.ReplicationPad2d((1, 2, 0, 3)), [(1, 2, 3, 4)], 1),
    "CircularPad2d": (lambda m: m.CircularPad2d(1), [(1, 2, 3, 4)], 1),
    "ZeroPad2d": (lambda m: m.ZeroPad2d((1, 2, 0, 1)), [(1, 2, 3, 4)], 1),
    "ConstantPad1d": (lambda m: m.ConstantPad1d(2, 3.5), [(2, 3, 4)], 1),
    "ConstantPad2d": (lambda m: m.ConstantPad2d((1, 0, 2, 0), -1.0), [(1, 2, 3, 4)], 1),
    "Upsample_nearest": (lambda m: m.Upsample(scale_factor=2), [(1, 2, 3, 4)], 1),
    "Upsample_nearest_size": (lambda m: m.Upsample(size=(5, 7)), [(1, 2, 3, 4)], 1),
    "Upsample_nearest_1d": (lambda m: m.Upsample(scale_factor=3), [(2, 2, 4)], 1),
    "Upsample_bilinear": (lambda m: m.Upsample(scale_factor=2, mode="bilinear"),
                          [(1, 2, 3, 4)], 1),
    "Upsample_bilinear_align": (lambda m: m.Upsample(size=(4, 3), mode="bilinear",
                                                     align_corners=True), [(1, 2, 3, 5)], 1),
    "Upsample_linear": (lambda m: m.Upsample(scale_factor=1.5, mode="linear"), [(2, 2, 4)], 1),
    "UpsamplingNearest2d": (lambda m: m.UpsamplingNearest2d(scale_factor=2), [(1, 2, 3, 3)],
                            1),
    "UpsamplingBilinear2d": (lambda m: m.UpsamplingBilinear2d(size=(5, 4)), [(1, 2, 3, 3)],
                             1),
    "PixelShuffle": (lambda m: m.PixelShuffle(2), [(2, 8, 3, 2)], 1),
    "PixelUnshuffle": (lambda m: m.PixelUnshuffle(2), [(2, 2, 4, 6)], 1),
    "InstanceNorm1d": (lambda m: m.InstanceNorm1d(3), [(2, 3, 5)], 1),
    "InstanceNorm1d_unbatched": (lambda m: m.InstanceNorm1d(3, affine=True), [(3, 5)], 1),
    "InstanceNorm2d_affine": (lambda m: m.InstanceNorm2d(3, affine=True), [(2, 3, 4, 5)], 1),
    "InstanceNorm2d_unbatched": (lambda m: m.InstanceNorm2d(2), [(2, 3, 4)], 1),
    "CosineSimilarity": (lambda m: m.CosineSimilarity(), [(3, 4), (3, 4)], 1),
    "CosineSimilarity_dim": (lambda m: m.CosineSimilarity(dim=-1, eps=1e-6),
                             [(2, 3, 4), (3, 4)], 1),
    "PairwiseDistance": (lambda m: m.PairwiseDistance(), [(3, 4), (3, 4)], 1),
    "PairwiseDistance_p1_keepdim": (lambda m: m.PairwiseDistance(p=1.0, keepdim=True),
                                    [(3, 4), (4,)], 1),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_module_matches_torch(name):
    make, shapes, scale = MODULES[name]
    torch.manual_seed(0)
    theirs = make(tnn)
    ours = make(nn)
    if list(theirs.parameters()):
        # move the parameters off their initial values so that a mix-up shows
        with torch.no_grad():
            for p in theirs.parameters():
                p.add_(torch.tensor(arr(*p.shape, seed=3)) * 0.3)
    load_from_torch(ours, theirs)
    xs = [arr(*s, seed=k, scale=scale) for k, s in enumerate(shapes)]
    check_same(ours, theirs, *xs)
    assert repr(ours) == repr(theirs)


def test_prelu_default_init_and_shapes():
    m = nn.PReLU(4, init=0.3)
    assert m.weight.shape == (4,) and np.all(m.weight.numpy() == np.float32(0.3))
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match="prelu: weight has 4 elements, expected 1 or"):
        m(tn.ones(2, 3))


# ---------------------------------------------------------------- in place
INPLACE = [("silu", {}), ("mish", {}), ("hardtanh", {"min_val": -0.5, "max_val": 0.5}),
           ("relu6", {}), ("hardsigmoid", {}), ("hardswish", {}), ("selu", {}),
           ("celu", {"alpha": 0.5}), ("elu", {"alpha": 0.5}), ("leaky_relu", {})]


@pytest.mark.parametrize("name,kwargs", INPLACE, ids=[n for n, _ in INPLACE])
def test_functional_inplace_writes_into_the_input_and_joins_the_graph(name, kwargs):
    x = arr(3, 4, scale=4, dtype=np.float64)
    leaf, tleaf = tn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    h, th = leaf * 2, tleaf * 2
    y = getattr(F, name)(h, inplace=True, **kwargs)
    ty = getattr(TF, name)(th, inplace=True, **kwargs)
    assert y is h
    np.testing.assert_allclose(h.numpy(), th.detach().numpy(), rtol=1e-12, atol=1e-12)
    w = arr(3, 4, seed=2, dtype=np.float64)
    (y * tn.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), tleaf.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls,args", [("SiLU", ()), ("Mish", ()), ("Hardtanh", (-1.0, 2.0)),
                                      ("ReLU6", ()), ("Hardsigmoid", ()), ("Hardswish", ()),
                                      ("SELU", ()), ("CELU", (0.5,))])
def test_module_inplace_without_autograd(cls, args):
    x = arr(2, 5, scale=4)
    ours = getattr(nn, cls)(*args, inplace=True)
    theirs = getattr(tnn, cls)(*args, inplace=True)
    a, b = tn.tensor(x), torch.tensor(x)
    assert ours(a) is a
    theirs(b)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    assert repr(ours) == repr(theirs)


def test_functional_trailing_underscore_variants():
    x = arr(2, 3, scale=3)
    for name, kwargs in [("hardtanh_", {}), ("selu_", {}), ("celu_", {"alpha": 2.0})]:
        a, b = tn.tensor(x), torch.tensor(x)
        assert getattr(F, name)(a, **kwargs) is a
        getattr(TF, name)(b, **kwargs)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_activations_of_large_inputs_stay_finite():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype=np.float32)
    for name in ("silu", "mish", "logsigmoid", "softsign", "selu", "celu", "hardswish"):
        a = tn.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        y, ty = getattr(F, name)(a), getattr(TF, name)(b)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-6, err_msg=name)
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-7,
                                   err_msg=name)


# ---------------------------------------------------------------- instance norm
@pytest.mark.parametrize("momentum", [0.1, 0.4])
def test_instance_norm_running_stats_follow_torch(momentum):
    torch.manual_seed(0)
    theirs = tnn.InstanceNorm2d(3, momentum=momentum, affine=True, track_running_stats=True)
    ours = nn.InstanceNorm2d(3, momentum=momentum, affine=True, track_running_stats=True)
    load_from_torch(ours, theirs)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    for step in range(3):
        x = arr(2, 3, 4, 3, seed=step) * (step + 1) + step
        check_same(ours, theirs, x)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=key)
    # like PyTorch, instance norm does not count batches
    assert ours.num_batches_tracked.item() == 0
    ours.eval()
    theirs.eval()
    check_same(ours, theirs, arr(2, 3, 4, 3, seed=9) * 2 + 1)


def test_instance_norm_defaults_and_functional_running_stats():
    m = nn.InstanceNorm1d(4)
    assert not m.affine and not m.track_running_stats and m.weight is None
    assert list(m.state_dict()) == []
    x = arr(3, 4, 6)
    rm, rv = tn.zeros(4), tn.ones(4)
    trm, trv = torch.zeros(4), torch.ones(4)
    y = F.instance_norm(tn.tensor(x), rm, rv, momentum=0.2)
    ty = TF.instance_norm(torch.tensor(x), trm, trv, momentum=0.2)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-5, atol=1e-7)
    y = F.instance_norm(tn.tensor(x), rm, rv, use_input_stats=False)
    ty = TF.instance_norm(torch.tensor(x), trm, trv, use_input_stats=False)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-6)


def test_instance_norm_errors_and_channel_warning():
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(tn.ones(2, 3, 1))
    with pytest.raises(ValueError, match="running_mean and running_var are required"):
        F.instance_norm(tn.ones(2, 3, 4), use_input_stats=False)
    with pytest.raises(ValueError, match="InstanceNorm2d: expected 3D or 4D input, got 5D"):
        nn.InstanceNorm2d(3)(tn.ones(1, 3, 2, 2, 2))
    with pytest.raises(ValueError, match=r"to match num_features \(4\)"):
        nn.InstanceNorm1d(4, affine=True)(tn.ones(2, 3, 5))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = nn.InstanceNorm1d(4)(tn.tensor(arr(2, 3, 5)))
    assert y.shape == (2, 3, 5) and any("num_features" in str(w.message) for w in caught)


# ---------------------------------------------------------------- padding, resampling
def test_pad_modes_errors_name_the_problem():
    x = tn.ones(1, 2, 3)
    with pytest.raises(ValueError, match=r"'reflect' needs each padding smaller than the "
                                         r"size of its dim, got padding \(3, 0\) for dim 2"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="'circular' needs each padding at most"):
        F.pad(x, (0, 4), mode="circular")
    F.pad(x, (3, 3), mode="circular")                  # exactly the size is fine
    with pytest.raises(ValueError, match="needs a 2-D or 3-D input"):
        F.pad(tn.ones(3), (1, 1), mode="replicate")
    with pytest.raises(ValueError, match="pads the last 1, 2 or 3 dims"):
        F.pad(tn.ones(1, 1, 1, 1, 2), (1,) * 8, mode="replicate")
    with pytest.raises(ValueError, match="does not take a value"):
        F.pad(x, (1, 1), mode="reflect", value=2.0)
    with pytest.raises(ValueError, match="ReflectionPad2d: expected a 3-D or 4-D input"):
        nn.ReflectionPad2d(1)(tn.ones(2, 3))
    with pytest.raises(ValueError, match="padding must be an int or 4 ints"):
        nn.ReplicationPad2d((1, 2))


def test_pad_keeps_dtype_and_works_on_integers():
    x = np.arange(12).reshape(1, 3, 4)
    for mode in ("reflect", "replicate", "circular"):
        y = F.pad(tn.tensor(x), (2, 1, 1, 2), mode=mode)
        ty = TF.pad(torch.tensor(x, dtype=torch.float64), (2, 1, 1, 2), mode=mode)
        assert y.dtype == tn.int64
        np.testing.assert_array_equal(y.numpy(), ty.numpy().astype(np.int64))


def test_interpolate_matches_torch_on_many_sizes():
    rng = np.random.default_rng(0)
    for mode, k in [("nearest", 1), ("nearest", 2), ("nearest", 3), ("nearest-exact", 2),
                    ("linear", 1), ("bilinear", 2), ("trilinear", 3)]:
        for ac in ([None] if "nearest" in mode else [False, True]):
            for kw in [{"size": 7}, {"size": 2}, {"scale_factor": 2}, {"scale_factor": 1.7},
                       {"scale_factor": 0.6}, {"size": 1}, {"scale_factor": 3.3}]:
                x = rng.standard_normal((1, 2) + (5, 4, 3)[:k]).astype(np.float32)
                y = F.interpolate(tn.tensor(x), mode=mode, align_corners=ac, **kw)
                ty = TF.interpolate(torch.tensor(x), mode=mode, align_corners=ac, **kw)
                np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-6,
                                           err_msg=f"{mode} {ac} {kw}")


def test_interpolate_nearest_keeps_integer_images():
    img = np.arange(24, dtype=np.uint8).reshape(1, 2, 3, 4)
    y = F.interpolate(tn.tensor(img), scale_factor=1.5)
    ty = TF.interpolate(torch.tensor(img), scale_factor=1.5)
    assert y.dtype == tn.uint8
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_interpolate_errors():
    x = tn.ones(1, 2, 3, 3)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=4, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="mode 'linear' needs a 3-D input"):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(ValueError, match=r"size \(4, 5, 6\) must have one entry per spatial"):
        F.interpolate(x, size=(4, 5, 6))
    with pytest.raises(NotImplementedError, match="'bicubic' is not supported"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="unknown mode 'cubic'"):
        F.interpolate(x, scale_factor=2, mode="cubic")
    with pytest.raises(TypeError, match="needs a floating point input"):
        F.interpolate(tn.ones(1, 1, 2, 2, dtype=tn.int64), scale_factor=2, mode="bilinear")


def test_pixel_shuffle_round_trip_and_errors():
    x = tn.tensor(arr(2, 3, 4, 6))
    back = F.pixel_shuffle(F.pixel_unshuffle(x, 2), 2)
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    with pytest.raises(ValueError, match="divisible by upscale_factor\\*\\*2 = 4, got 5"):
        F.pixel_shuffle(tn.ones(1, 5, 2, 2), 2)
    with pytest.raises(ValueError, match="height 3 and width 4 must be divisible"):
        F.pixel_unshuffle(tn.ones(1, 1, 3, 4), 2)
    with pytest.raises(ValueError, match="at least 3 dims"):
        F.pixel_shuffle(tn.ones(4, 4), 2)


def test_glu_and_hardtanh_errors():
    with pytest.raises(ValueError, match="glu: halving dimension must be even"):
        F.glu(tn.ones(2, 3))
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(tn.ones(2), 1.0, -1.0)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="celu: alpha cannot be 0"):
        F.celu(tn.ones(2), 0.0)
    with pytest.raises(TypeError, match="silu: expected a floating point tensor"):
        F.silu(tn.tensor([1, 2]))


def test_cosine_similarity_of_zero_vectors_is_finite_like_torch():
    x1 = np.zeros((2, 3), np.float32)
    x2 = arr(2, 3)
    a, b = tn.tensor(x1, requires_grad=True), torch.tensor(x1, requires_grad=True)
    y, ty = F.cosine_similarity(a, tn.tensor(x2)), TF.cosine_similarity(b, torch.tensor(x2))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy())
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5)
