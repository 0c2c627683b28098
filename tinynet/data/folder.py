"""ImageFolder: one sub-folder of images per class.

    root/cat/001.png
    root/cat/002.png
    root/dog/a.jpg

Class names are the sub-folder names, sorted; their positions are the labels.
Reading images needs Pillow (``pip install pillow``), imported only when the
first image is read.
"""
import os

import numpy as np

from tinynet.data.dataset import Dataset

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _import_pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("ImageFolder needs Pillow to read images; install it with "
                          "`pip install pillow` (or tinynet's 'vision' extra)") from None
    return Image


def pil_loader(path):
    """Read an image file as an RGB uint8 NumPy array of shape (H, W, 3)."""
    Image = _import_pil()
    with open(path, "rb") as f:
        with Image.open(f) as img:
            return np.asarray(img.convert("RGB"))


class ImageFolder(Dataset):
    """A dataset of ``(image, class_index)`` read from ``root/<class>/<file>``.

    Args:
        root: the folder whose sub-folders are the classes.
        transform: applied to each image (by default an RGB uint8 ``(H, W, 3)``
            NumPy array; ``transforms.ToTensor()`` makes it a float32 ``(3, H, W)`` Tensor).
        target_transform: applied to each class index.
        loader: ``loader(path) -> image`` (default: :func:`pil_loader`).
        extensions: file endings counted as images (case-insensitive).
        allow_empty: accept class folders without images (else an error names them).

    Attributes: ``classes`` (sorted names), ``class_to_idx``, ``samples``
    (list of ``(path, class_index)``, sorted), ``targets``.
    """

    def __init__(self, root, transform=None, target_transform=None, loader=None,
                 extensions=IMG_EXTENSIONS, allow_empty=False):
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"ImageFolder: {self.root!r} is not a folder")
        self.transform = transform
        self.target_transform = target_transform
        self.loader = loader if loader is not None else pil_loader
        self.extensions = tuple(e.lower() for e in extensions)
        self.allow_empty = allow_empty
        self.classes = sorted(e.name for e in os.scandir(self.root) if e.is_dir())
        if not self.classes:
            raise FileNotFoundError(f"ImageFolder: no class sub-folders in {self.root!r}")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples = self._find_samples()
        self.targets = [target for _, target in self.samples]

    def _find_samples(self):
        samples = []
        for name in self.classes:
            folder = os.path.join(self.root, name)
            # walk sub-sub-folders too, in a fixed (sorted) order
            for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
                dirnames.sort()
                for fname in sorted(filenames):
                    if fname.lower().endswith(self.extensions):
                        samples.append((os.path.join(dirpath, fname), self.class_to_idx[name]))
        empty = sorted(set(self.classes) - {self.classes[t] for _, t in samples})
        if empty and not (self.allow_empty and samples):
            raise FileNotFoundError(f"ImageFolder: no files ending in {self.extensions} for "
                                    f"classes {empty} under {self.root!r}")
        return samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, target = self.samples[index]
        image = self.loader(path)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target
