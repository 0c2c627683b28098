"""Custom ``Dataset`` and ``IterableDataset`` classes with transforms and a
dictionary per sample, as in the data-loading tutorial.

Idioms: ``class LandmarksDataset(Dataset)`` with ``__len__``/``__getitem__``
returning ``{'image': ..., 'landmarks': ...}``, callable transform classes
(``Normalize``, ``ToTensor`` doing ``image.transpose((2, 0, 1))`` and
``torch.from_numpy``), ``torch.is_tensor(idx)`` / ``idx.tolist()``, the
default collate stacking dict fields, ``sample_batched['image']``,
``Subset`` and ``ConcatDataset``, an ``IterableDataset`` yielding tuples,
``enumerate(dataloader)``, ``nn.Conv2d`` + ``F.adaptive_avg_pool2d`` regressor
with ``nn.L1Loss``.
Randomness: data from NumPy, ``shuffle=False``.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, DataLoader, Dataset, IterableDataset, Subset


class LandmarksDataset(Dataset):
    def __init__(self, n, seed, transform=None):
        rng = np.random.default_rng(seed)
        self.images = rng.uniform(0, 255, size=(n, 6, 6, 3)).astype(np.uint8)
        self.landmarks = rng.uniform(0, 6, size=(n, 2, 2))
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        if torch.is_tensor(idx):
            idx = idx.tolist()
        sample = {'image': self.images[idx], 'landmarks': self.landmarks[idx]}
        if self.transform:
            sample = self.transform(sample)
        return sample


class Compose(object):
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, sample):
        for t in self.transforms:
            sample = t(sample)
        return sample


class Normalize(object):
    def __call__(self, sample):
        image = sample['image'].astype(np.float32) / 255.0
        return {'image': image, 'landmarks': sample['landmarks'] / 6.0}


class ToTensor(object):
    def __call__(self, sample):
        image, landmarks = sample['image'], sample['landmarks']
        image = image.transpose((2, 0, 1))
        return {'image': torch.from_numpy(image),
                'landmarks': torch.from_numpy(landmarks).float()}


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        rng = np.random.default_rng(5)
        for i in range(self.n):
            x = rng.normal(size=3).astype(np.float32)
            yield torch.from_numpy(x), float(x.sum() > 0)


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1)
        return self.fc(x.view(x.size(0), -1)).view(-1, 2, 2)


def build():
    return {"regressor": Regressor(), "classifier": nn.Linear(3, 1)}


def train(models):
    transform = Compose([Normalize(), ToTensor()])
    full = ConcatDataset([LandmarksDataset(20, 0, transform), LandmarksDataset(12, 1, transform)])
    train_set = Subset(full, np.random.default_rng(2).permutation(len(full))[:24].tolist())
    dataloader = DataLoader(train_set, batch_size=8, shuffle=False)
    model = models["regressor"]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    criterion = nn.L1Loss()
    log = [len(full), len(train_set), len(dataloader), full[torch.tensor(3)]['image'].shape[0]]
    for epoch in range(2):
        for i_batch, sample_batched in enumerate(dataloader):
            images, landmarks = sample_batched['image'], sample_batched['landmarks']
            optimizer.zero_grad()
            loss = criterion(model(images), landmarks)
            loss.backward()
            optimizer.step()
            log.append(loss.item())

    clf = models["classifier"]
    optimizer = torch.optim.SGD(clf.parameters(), lr=0.5)
    for x, y in DataLoader(Stream(40), batch_size=8):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(clf(x).squeeze(1), y.float())
        loss.backward()
        optimizer.step()
        log.append(loss.item())
    return log


if __name__ == "__main__":
    print(train(build()))
