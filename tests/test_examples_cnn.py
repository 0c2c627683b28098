"""The convolutional examples: examples/binary_cnn.py learns a generated
two-class image folder, and behaves as it should in eval mode."""
import importlib.util
import os

import numpy as np
import pytest

import tinynet as tn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_example(name):
    """Import examples/<name>.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  os.path.join(ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pytest.importorskip("PIL")     # the example writes and reads PNG files with Pillow


@pytest.fixture(scope="module")
def binary_cnn():
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
