"""The convolutional examples: examples/binary_cnn.py learns a generated
two-class image folder and behaves as it should in eval mode;
examples/residual_cnn.py's ResidualBlock has the right shapes and gradients,
matches the same block built in PyTorch, and its network learns the digits."""
import importlib.util
import os

import numpy as np
import pytest

import tinynet as tn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_example(name):
    """Import examples/<name>.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  os.path.join(ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def binary_cnn():
    pytest.importorskip("PIL")     # the example writes and reads PNG files with Pillow
    return load_example("binary_cnn")


@pytest.fixture(scope="module")
def folder(binary_cnn, tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return str(binary_cnn.make_shapes_folder(root, n_per_class=48, size=16, seed=3))


@pytest.fixture(scope="module")
def run(binary_cnn, folder):
    return binary_cnn.train({"data": folder, "image_size": 16, "width": 8, "batch_size": 16,
                             "epochs": 6, "seed": 0, "save": None, "quiet": True})


def test_generated_folder_is_an_image_folder(binary_cnn, folder):
    from tinynet.data import ImageFolder
    ds = ImageFolder(folder)
    assert ds.classes == ["cross", "ring"]
    assert len(ds) == 96 and ds.targets.count(0) == 48
    img, label = ds[0]
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8 and label == 0


def test_loss_falls_and_held_out_accuracy_beats_chance(run):
    hist = run["history"]
    assert len(hist) == 6 and run["classes"] == ["cross", "ring"]
    assert hist[-1]["train_loss"] < 0.8 * hist[0]["train_loss"]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    # 24 held-out images; 18 right by chance has probability < 0.2%
    assert hist[-1]["val_acc"] >= 0.75


def test_training_images_are_augmented_held_out_are_not(binary_cnn, folder):
    tn.manual_seed(0)
    train_set, val_set, _ = binary_cnn.load_data({**binary_cnn.DEFAULTS, "data": folder,
                                                  "image_size": 16})
    draws = [train_set[0][0].numpy() for _ in range(4)]
    assert draws[0].shape == (3, 16, 16) and draws[0].dtype == np.float32
    assert any(not np.array_equal(draws[0], d) for d in draws[1:])
    np.testing.assert_array_equal(val_set[0][0].numpy(), val_set[0][0].numpy())
    # the split is disjoint and covers the folder
    assert not set(train_set.indices) & set(val_set.indices)
    assert len(train_set) + len(val_set) == 96


def test_eval_mode_is_deterministic_and_uses_running_stats(run):
    model = run["model"]
    tn.manual_seed(1)
    x = tn.randn(6, 3, 16, 16)
    bn = model.features[1]
    stats = (bn.running_mean.numpy().copy(), bn.running_var.numpy().copy())
    model.eval()
    with tn.no_grad():
        a, b = model(x).numpy(), model(x).numpy()
        single = model(x[2:3]).numpy()
    np.testing.assert_array_equal(a, b)             # dropout is off
    # each image's output does not depend on the rest of the batch: running stats, not batch stats
    np.testing.assert_allclose(single, a[2:3], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(bn.running_mean.numpy(), stats[0])   # eval does not update them
    np.testing.assert_array_equal(bn.running_var.numpy(), stats[1])
    model.train()
    with tn.no_grad():
        c, d = model(x).numpy(), model(x).numpy()
    assert not np.array_equal(c, d)                 # train mode: dropout draws new masks
    assert not np.array_equal(bn.running_mean.numpy(), stats[0])
    model.eval()


def test_same_seed_same_run(binary_cnn, folder, run):
    again = binary_cnn.train({"data": folder, "image_size": 16, "width": 8, "batch_size": 16,
                              "epochs": 1, "seed": 0, "save": None, "quiet": True})
    assert again["history"][0]["train_loss"] == run["history"][0]["train_loss"]


def test_main_saves_a_model_that_loads(binary_cnn, folder, tmp_path, capsys):
    path = str(tmp_path / "model.tnz")
    assert binary_cnn.main(["--data", folder, "--image-size", "16", "--width", "4",
                            "--epochs", "1", "--save", path]) == 0
    out = capsys.readouterr().out
    assert "held-out loss" in out and "held-out accuracy" in out
    model = binary_cnn.BinaryCNN(width=4)
    model.load_state_dict(tn.load(path))
    model.eval()
    with tn.no_grad():
        y = model(tn.randn(2, 3, 16, 16))
    assert y.shape == (2, 1) and y.dtype == tn.float32


def test_wrong_number_of_classes_is_refused(binary_cnn, tmp_path):
    root = tmp_path / "three"
    binary_cnn.make_shapes_folder(str(root), n_per_class=1, size=8, seed=0)
    (root / "extra").mkdir()
    (root / "extra" / "a.png").write_bytes((root / "ring" / "0000.png").read_bytes())
    with pytest.raises(ValueError, match="expected 2 class folders"):
        binary_cnn.load_data({**binary_cnn.DEFAULTS, "data": str(root), "image_size": 8})


# ----------------------------------------------------------------- examples/residual_cnn.py
@pytest.fixture(scope="module")
def residual_cnn():
    return load_example("residual_cnn")


def block_keys(shortcut):
    keys = [f"{m}.{k}" for m in ("conv1", "bn1", "conv2", "bn2") for k in
            (("weight",) if m.startswith("conv") else
             ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"))]
    if shortcut:
        keys += ["shortcut.0.weight"] + [f"shortcut.1.{k}" for k in
                                         ("weight", "bias", "running_mean", "running_var",
                                          "num_batches_tracked")]
    return keys


@pytest.mark.parametrize("c_in,c_out,stride,out_hw,projection", [
    (4, 4, 1, (5, 5), False),      # identity shortcut
    (4, 6, 1, (5, 5), True),       # more channels: 1x1 projection
    (4, 6, 2, (3, 3), True),       # more channels and half the size (odd input)
    (4, 4, 2, (3, 3), True),       # same channels, stride 2: still a projection
], ids=["identity", "proj-C4-6", "proj-C4-6-s2", "proj-C4-4-s2"])
def test_residual_block_shapes(residual_cnn, c_in, c_out, stride, out_hw, projection):
    tn.manual_seed(0)
    block = residual_cnn.ResidualBlock(c_in, c_out, stride)
    y = block(tn.randn(2, c_in, 5, 5))
    assert y.shape == (2, c_out) + out_hw and y.dtype == tn.float32
    assert (y.numpy() >= 0).all()                      # it ends with a ReLU
    assert isinstance(block.shortcut, tn.nn.Identity) != projection
    assert sorted(block.state_dict()) == sorted(block_keys(projection))


@pytest.mark.parametrize("c_in,c_out,stride", [(2, 2, 1), (2, 3, 2)], ids=["identity", "proj-s2"])
def test_residual_block_gradcheck(residual_cnn, c_in, c_out, stride):
    tn.manual_seed(0)
    block = residual_cnn.ResidualBlock(c_in, c_out, stride).double()   # train mode: batch stats
    x = tn.randn(2, c_in, 4, 4, dtype=tn.float64, requires_grad=True)
    assert tn.gradcheck(block, (x,))
    block.eval()                                        # running stats: an affine map per channel
    assert tn.gradcheck(block, (x,))


def test_first_conv_gets_its_gradient_through_the_skip(residual_cnn):
    tn.manual_seed(0)
    first = residual_cnn.ResidualBlock(3, 3).double()
    second = residual_cnn.ResidualBlock(3, 3).double()
    # silence the second block's residual branch: bn2 outputs 0, so second(h) = relu(h) = h
    with tn.no_grad():
        second.bn2.weight.zero_()
    x = tn.randn(2, 3, 5, 5, dtype=tn.float64)
    second(first(x)).sum().backward()
    through_skip = first.conv1.weight.grad.numpy().copy()
    assert np.abs(through_skip).max() > 1e-3
    assert np.abs(second.conv1.weight.grad.numpy()).max() == 0   # its branch is cut off
    # it is exactly the gradient the first block gets without the second one
    first.zero_grad()
    first(x).sum().backward()
    np.testing.assert_allclose(through_skip, first.conv1.weight.grad.numpy(), rtol=1e-12)


def test_first_conv_gradient_matches_finite_differences(residual_cnn):
    tn.manual_seed(1)
    block = residual_cnn.ResidualBlock(2, 3, stride=2).double()
    x = tn.randn(3, 2, 6, 6, dtype=tn.float64)
    g = tn.randn(3, 3, 3, 3, dtype=tn.float64)          # a fixed upstream gradient
    (block(x) * g).sum().backward()
    w = block.conv1.weight
    direction = np.random.default_rng(0).standard_normal(w.shape)
    analytical = float((w.grad.numpy() * direction).sum())
    eps, base = 1e-6, w.numpy().copy()

    def loss_at(t):
        with tn.no_grad():
            w.copy_(tn.tensor(base + t * direction))
            return float((block(x) * g).sum().item())

    numerical = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    assert numerical == pytest.approx(analytical, rel=1e-5, abs=1e-8)


def test_residual_network_loss_falls(residual_cnn):
    run = residual_cnn.train({"width": 8, "epochs": 1, "max_steps": 20, "batch_size": 32,
                              "quiet": True})
    losses = run["losses"]
    assert run["steps"] == 20 and len(run["history"]) == 1
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    assert run["history"][0]["test_acc"] > 0.5          # 10 classes: chance is 0.1


def test_residual_main_runs_and_saves(residual_cnn, tmp_path, capsys):
    path = str(tmp_path / "resnet.tnz")
    assert residual_cnn.main(["--width", "4", "--epochs", "1", "--max-steps", "2",
                              "--save", path]) == 0
    assert "test accuracy" in capsys.readouterr().out
    model = residual_cnn.SmallResNet(width=4)
    model.load_state_dict(tn.load(path))
    assert model(tn.randn(2, 1, 8, 8)).shape == (2, 10)


def torch_block(torch, c_in, c_out, stride):
    """The same block written in PyTorch, with the same module names."""
    nn = torch.nn

    class TorchBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.shortcut = nn.Identity()
            if stride != 1 or c_in != c_out:
                self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                              nn.BatchNorm2d(c_out))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    return TorchBlock().double()


@pytest.mark.parametrize("c_in,c_out,stride", [(3, 3, 1), (3, 5, 2)], ids=["identity", "proj-s2"])
def test_residual_block_matches_pytorch(residual_cnn, c_in, c_out, stride):
    torch = pytest.importorskip("torch")
    tn.manual_seed(0)
    ours = residual_cnn.ResidualBlock(c_in, c_out, stride).double()
    with tn.no_grad():               # BatchNorm scales and shifts other than 1 and 0
        for m in ours.modules():
            if isinstance(m, tn.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    theirs = torch_block(torch, c_in, c_out, stride)
    assert sorted(theirs.state_dict()) == sorted(ours.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.state_dict().items()})

    x_np = np.random.default_rng(0).standard_normal((4, c_in, 7, 7))
    side = (7 - 1) // stride + 1
    g_np = np.random.default_rng(1).standard_normal((4, c_out, side, side))
    # train mode first (batch statistics), then eval mode with the running
    # statistics that pass has just updated
    for train_mode in (True, False):
        ours.train(train_mode)
        theirs.train(train_mode)
        x = tn.tensor(x_np, requires_grad=True)
        xt = torch.tensor(x_np, requires_grad=True)
        y, yt = ours(x), theirs(xt)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        (y * tn.tensor(g_np)).sum().backward()
        (yt * torch.from_numpy(g_np)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.conv1.weight.grad.numpy(),
                                   theirs.conv1.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
        ours.zero_grad()
        theirs.zero_grad()
    # the training-mode pass moved the running statistics the same way
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-12,
                                   err_msg=k)
