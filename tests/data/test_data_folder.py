"""tinynet.data.ImageFolder on a folder of PNGs made by the test."""
import builtins

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import DataLoader, ImageFolder
from tinynet.data import transforms as T
from tinynet.data.folder import pil_loader

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def image_root(tmp_path):
    """root/<class>/<n>.png with a known colour per image; returns (root, expected)."""
    expected = {}
    layout = {"zebra": 2, "ant": 3, "cat": 1}
    for name, count in layout.items():
        (tmp_path / name).mkdir()
        for k in range(count):
            arr = np.zeros((4, 5, 3), np.uint8)
            arr[..., 0] = 10 * k
            arr[..., 1] = len(name) * 20
            arr[0, 0] = (255, 0, 7)           # one marked pixel checks orientation
            path = tmp_path / name / f"{k}.png"
            Image.fromarray(arr).save(path)
            expected[str(path)] = arr
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    (tmp_path / "stray.png").write_bytes(b"")        # files in root are not samples
    return tmp_path, expected


def test_classes_are_sorted_folder_names(image_root):
    root, _ = image_root
    ds = ImageFolder(root)
    assert ds.classes == ["ant", "cat", "zebra"]
    assert ds.class_to_idx == {"ant": 0, "cat": 1, "zebra": 2}
    assert len(ds) == 6
    assert ds.targets == [0, 0, 0, 1, 2, 2]
    assert [p.rsplit("/", 2)[-2:] for p, _ in ds.samples][:3] == [["ant", "0.png"],
                                                                  ["ant", "1.png"],
                                                                  ["ant", "2.png"]]


def test_images_are_read_exactly(image_root):
    root, expected = image_root
    ds = ImageFolder(root)
    for i, (path, target) in enumerate(ds.samples):
        img, label = ds[i]
        assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (4, 5, 3)
        np.testing.assert_array_equal(img, expected[path])
        assert label == target


def test_transforms_and_loader(image_root):
    root, expected = image_root
    ds = ImageFolder(root, transform=T.ToTensor(), target_transform=lambda t: t * 10)
    x, y = ds[3]
    assert isinstance(x, tn.Tensor) and x.shape == (3, 4, 5) and x.dtype == tn.float32
    assert y == 10
    want = expected[ds.samples[3][0]].transpose(2, 0, 1) / np.float32(255)
    np.testing.assert_array_equal(x.numpy(), want)
    xb, yb = next(iter(DataLoader(ds, batch_size=4, shuffle=True, seed=0)))
    assert xb.shape == (4, 3, 4, 5) and yb.dtype == tn.int64


def test_grayscale_files_become_rgb(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.full((3, 3), 200, np.uint8)).save(tmp_path / "a" / "g.PNG")
    img, _ = ImageFolder(tmp_path)[0]                  # upper-case extension counts too
    assert img.shape == (3, 3, 3) and (img == 200).all()


def test_empty_or_missing_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        ImageFolder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        ImageFolder(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "a" / "x.png")
    with pytest.raises(FileNotFoundError, match=r"for classes \['b'\]"):
        ImageFolder(tmp_path)
    ds = ImageFolder(tmp_path, allow_empty=True)
    assert ds.classes == ["a", "b"] and len(ds) == 1


def test_custom_loader_needs_no_pillow(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "1.npy").write_bytes(b"")
    ds = ImageFolder(tmp_path, loader=lambda p: np.ones((2, 2)), extensions=(".npy",))
    assert ds[0][0].shape == (2, 2)


def test_missing_pillow_gives_a_clear_error(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("No module named 'PIL'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_pil)
    with pytest.raises(ImportError, match="ImageFolder needs Pillow.*pip install pillow"):
        pil_loader(tmp_path / "x.png")


def test_importing_tinynet_data_does_not_import_pillow():
    import subprocess
    import sys
    code = "import sys, tinynet.data; print('PIL' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
