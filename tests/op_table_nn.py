"""Op-table entries for nn.functional ops (activations, padding, interpolation, normalization); see op_table.py for ``op``."""
import numpy as np  # noqa: F401

import tinynet as tn  # noqa: F401
import tinynet.nn.functional as F  # noqa: F401
from op_table import op  # noqa: F401
from tinynet.testing import Case

UNARY = [(2, 3), (4,)]


def activation(name, fn, torch_name, kwargs=None, **options):
    """An elementwise F.<name> entry, compared with torch.nn.functional.<torch_name>."""
    kwargs = kwargs or {}
    return op(name, lambda x: fn(x, **kwargs),
              lambda t, x: getattr(t.nn.functional, torch_name)(x, **kwargs),
              options.pop("cases", UNARY), elementwise=True, **options)


# ---------------------------------------------------------------- activations
activation("silu", F.silu, "silu", domain=(-4, 4))
activation("mish", F.mish, "mish", domain=(-4, 4))
activation("logsigmoid", F.logsigmoid, "logsigmoid", domain=(-4, 4))
activation("hardtanh", F.hardtanh, "hardtanh", kinks=(-1.0, 1.0))
activation("hardtanh-range", F.hardtanh, "hardtanh", {"min_val": -0.5, "max_val": 1.5},
           kinks=(-0.5, 1.5))
activation("relu6", F.relu6, "relu6", domain=(-2, 8), kinks=(0.0, 6.0))
activation("hardsigmoid", F.hardsigmoid, "hardsigmoid", domain=(-5, 5), kinks=(-3.0, 3.0))
activation("hardswish", F.hardswish, "hardswish", domain=(-5, 5), kinks=(-3.0, 3.0))
activation("selu", F.selu, "selu", kinks=(0.0,))
# (alpha = 0.5: PyTorch's celu gradient rounds 1 / alpha to float32, exact only here)
activation("celu", F.celu, "celu", {"alpha": 0.5}, kinks=(0.0,))
activation("softsign", F.softsign, "softsign", kinks=(0.0,))
activation("tanhshrink", F.tanhshrink, "tanhshrink")
activation("elu-default", F.elu, "elu", kinks=(0.0,))
activation("softplus-beta", F.softplus, "softplus", {"beta": 0.5}, domain=(-4, 4))
op("glu", lambda x, dim: F.glu(x, dim), lambda t, x, dim: t.nn.functional.glu(x, dim),
   [Case(((2, 6),), {"dim": -1}), Case(((4, 3),), {"dim": 0}),
    Case(((1, 2, 2),), {"dim": 1})])
op("prelu", F.prelu, lambda t, x, w: t.nn.functional.prelu(x, w),
   [((2, 3, 4), (3,)), ((2, 3), (1,)), ((5,), (1,))], kinks=(0.0,))

# ---------------------------------------------------------------- similarity, distance
op("cosine_similarity", lambda a, b, dim: F.cosine_similarity(a, b, dim),
   lambda t, a, b, dim: t.nn.functional.cosine_similarity(a, b, dim),
   [Case(((3, 4), (3, 4)), {"dim": 1}), Case(((2, 3, 4), (3, 4)), {"dim": -1}),
    Case(((4,), (4,)), {"dim": 0})])
op("pairwise_distance", lambda a, b, p, keepdim: F.pairwise_distance(a, b, p, keepdim=keepdim),
   lambda t, a, b, p, keepdim: t.nn.functional.pairwise_distance(a, b, p, keepdim=keepdim),
   [Case(((3, 4), (3, 4)), {"p": 2.0, "keepdim": False}),
    Case(((3, 4), (4,)), {"p": 1.0, "keepdim": True}),
    Case(((2, 4), (2, 4)), {"p": 3.0, "keepdim": False}),
    Case(((5,), (5,)), {"p": 2.0, "keepdim": False})])
op("pairwise_distance-inf", lambda a, b: F.pairwise_distance(a, b, float("inf")),
   lambda t, a, b: t.nn.functional.pairwise_distance(a, b, float("inf")),
   [((3, 4), (3, 4))])

# ---------------------------------------------------------------- pixel shuffle
op("pixel_shuffle", lambda x, r: F.pixel_shuffle(x, r),
   lambda t, x, r: t.nn.functional.pixel_shuffle(x, r),
   [Case(((1, 8, 2, 3),), {"r": 2}), Case(((9, 1, 2),), {"r": 3}),
    Case(((2, 1, 4, 1, 2),), {"r": 2})])
op("pixel_unshuffle", lambda x, r: F.pixel_unshuffle(x, r),
   lambda t, x, r: t.nn.functional.pixel_unshuffle(x, r),
   [Case(((1, 2, 4, 6),), {"r": 2}), Case(((1, 3, 3),), {"r": 3})])

# ---------------------------------------------------------------- instance norm
op("instance_norm", F.instance_norm, lambda t, x: t.nn.functional.instance_norm(x),
   [(2, 3, 5), (2, 2, 3, 4), (1, 1, 2)])
op("instance_norm-affine", lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-3),
   lambda t, x, w, b: t.nn.functional.instance_norm(x, weight=w, bias=b, eps=1e-3),
   [((2, 3, 4), (3,), (3,))])

# ---------------------------------------------------------------- padding modes
PAD_CASES = [Case(((2, 5),), {"pad": (2, 1)}), Case(((1, 2, 4),), {"pad": (0, 3)}),
             Case(((2, 3, 4),), {"pad": (1, 2, 2, 0)}),
             Case(((1, 1, 3, 4),), {"pad": (2, 1, 1, 2)}),
             Case(((1, 3, 3, 2),), {"pad": (1, 1, 1, 1, 0, 2)})]
for _mode in ("reflect", "replicate", "circular"):
    op(f"pad-{_mode}", lambda x, pad, _m=_mode: F.pad(x, pad, mode=_m),
       lambda t, x, pad, _m=_mode: t.nn.functional.pad(x, tuple(pad), mode=_m), PAD_CASES)
op("pad-replicate-wide", lambda x: F.pad(x, (4, 3), mode="replicate"),
   lambda t, x: t.nn.functional.pad(x, (4, 3), mode="replicate"), [(2, 2)])

# ---------------------------------------------------------------- interpolate


def interp(name, cases, **kwargs):
    return op(name, lambda x, **p: F.interpolate(x, **p, **kwargs),
              lambda t, x, **p: t.nn.functional.interpolate(
                  x, **{k: tuple(v) if isinstance(v, list) else v for k, v in p.items()},
                  **kwargs), cases)


interp("interpolate-nearest", [Case(((1, 2, 4),), {"size": 7}),
                               Case(((1, 2, 3, 2),), {"scale_factor": 2}),
                               Case(((1, 1, 5, 4),), {"size": (3, 6)}),
                               Case(((1, 1, 2, 3, 2),), {"scale_factor": 1.5})])
interp("interpolate-nearest-exact", [Case(((1, 2, 5),), {"size": 3}),
                                     Case(((1, 1, 3, 2),), {"scale_factor": 1.7})],
       mode="nearest-exact")
for _ac in (False, True):
    _tag = "-align" if _ac else ""
    interp(f"interpolate-linear{_tag}", [Case(((1, 2, 4),), {"size": 7}),
                                         Case(((2, 1, 5),), {"scale_factor": 0.6})],
           mode="linear", align_corners=_ac)
    interp(f"interpolate-bilinear{_tag}", [Case(((1, 2, 3, 4),), {"scale_factor": 2}),
                                           Case(((1, 1, 5, 4),), {"size": (3, 6)}),
                                           Case(((1, 1, 2, 3),), {"scale_factor": 1.5})],
           mode="bilinear", align_corners=_ac)
interp("interpolate-trilinear", [Case(((1, 1, 2, 3, 2),), {"size": (3, 2, 4)})],
       mode="trilinear")
interp("interpolate-bilinear-recompute",
       [Case(((1, 1, 3, 3),), {"scale_factor": 1.7})], mode="bilinear",
       recompute_scale_factor=True)

# ---------------------------------------------------------------- attention


def sdpa(name, cases, **kwargs):
    """An F.scaled_dot_product_attention entry (tensor inputs query, key, value
    and, if given, a float attn_mask that gets a gradient too)."""
    return op(name, lambda *t, **p: F.scaled_dot_product_attention(*t, **p, **kwargs),
              lambda torch, *t, **p: torch.nn.functional.scaled_dot_product_attention(
                  *t, **p, **kwargs), cases)


sdpa("scaled_dot_product_attention", [
    ((2, 3, 4), (2, 5, 4), (2, 5, 2)), ((3, 2), (4, 2), (4, 3)),
    ((2, 1, 3, 4), (1, 2, 5, 4), (2, 2, 5, 2))])        # batch and heads broadcast
sdpa("scaled_dot_product_attention-causal", [
    ((2, 3, 4), (2, 5, 4), (2, 5, 2)), ((1, 5, 3), (1, 2, 3), (1, 2, 2))], is_causal=True)
# True: the key takes part; row 1 sees no key at all (zero output and gradients)
_SDPA_MASK = np.array([[True, False, True, True, False], [False] * 5,
                       [False, True, False, True, True]])
sdpa("scaled_dot_product_attention-bool-mask",
     [Case(((2, 3, 4), (2, 5, 4), (2, 5, 2)), {"attn_mask": _SDPA_MASK})])
sdpa("scaled_dot_product_attention-float-mask", [((2, 3, 4), (2, 5, 4), (2, 5, 2), (3, 5))])
sdpa("scaled_dot_product_attention-scale-gqa", [((1, 4, 3, 2), (1, 2, 5, 2), (1, 2, 5, 3))],
     scale=0.7, enable_gqa=True)
