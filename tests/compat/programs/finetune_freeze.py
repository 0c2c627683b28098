"""Fine-tune a "pretrained" network: freeze the feature extractor, replace
the head, then unfreeze everything with per-group learning rates, as in the
transfer-learning and finetuning tutorials.

Idioms: ``for param in model.parameters(): param.requires_grad = False``,
``model.fc = nn.Linear(num_ftrs, n)`` replacing a submodule, ``model.fc.in_features``,
``filter(lambda p: p.requires_grad, model.parameters())``, parameter groups
``[{'params': ...}, {'params': ..., 'lr': ...}]``, ``optim.SGD(nesterov=True,
weight_decay=...)``, ``named_parameters()``, ``torch.sum(preds == labels.data)``,
``running_loss += loss.item() * inputs.size(0)``, ``nn.AdaptiveAvgPool2d``,
``torch.max(outputs, 1)``.
Randomness: images from NumPy, ``shuffle=False``.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset


class SmallNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        x = torch.flatten(x, 1)
        return self.fc(x)


def build():
    model = SmallNet()
    for param in model.parameters():
        param.requires_grad = False
    num_ftrs = model.fc.in_features
    model.fc = nn.Linear(num_ftrs, 2)
    return model


def make_loader():
    rng = np.random.default_rng(0)
    labels = np.arange(32) % 2
    images = rng.normal(size=(32, 3, 8, 8)) + labels[:, None, None, None] * np.array(
        [0.6, 0.0, -0.6])[None, :, None, None]
    ds = TensorDataset(torch.tensor(images, dtype=torch.float32), torch.tensor(labels))
    return DataLoader(ds, batch_size=8, shuffle=False)


def run_epoch(model, loader, criterion, optimizer, log):
    model.train()
    running_loss, running_corrects = 0.0, 0
    for inputs, labels in loader:
        optimizer.zero_grad()
        outputs = model(inputs)
        _, preds = torch.max(outputs, 1)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * inputs.size(0)
        running_corrects += torch.sum(preds == labels.data)
    log += [running_loss / len(loader.dataset),
            running_corrects.double().item() / len(loader.dataset)]


def train(model):
    loader = make_loader()
    criterion = nn.CrossEntropyLoss()
    log = []
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    log.append(len(trainable))
    optimizer = optim.SGD(filter(lambda p: p.requires_grad, model.parameters()),
                          lr=0.05, momentum=0.9)
    for epoch in range(2):
        run_epoch(model, loader, criterion, optimizer, log)

    for param in model.parameters():
        param.requires_grad = True
    optimizer = optim.SGD([{'params': model.features.parameters()},
                           {'params': model.fc.parameters(), 'lr': 0.05}],
                          lr=0.005, momentum=0.9, nesterov=True, weight_decay=1e-4)
    for epoch in range(2):
        run_epoch(model, loader, criterion, optimizer, log)
    log.append([g['lr'] for g in optimizer.param_groups])
    return log


if __name__ == "__main__":
    print(train(build()))
