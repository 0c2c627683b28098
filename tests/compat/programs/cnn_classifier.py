"""CNN classifier in the style of the MNIST example: train/test functions,
DataLoader over a TensorDataset, accuracy from ``_, pred = out.max(1)``.

Idioms: ``nn.ReLU(inplace=True)``, ``F.max_pool2d``, ``torch.flatten(x, 1)``,
``F.log_softmax`` + ``F.nll_loss``, ``pred.eq(target.view_as(pred)).sum().item()``,
``model.train()`` / ``model.eval()``, ``with torch.no_grad()``,
``optim.SGD(momentum=...)``, ``StepLR``, ``torch.device('cpu')`` and ``.to(device)``,
``torch.utils.data.DataLoader`` reached after a plain ``import torch``.
Randomness: data from NumPy, ``shuffle=False``, dropout only in eval mode.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 2 * 2, 32)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = self.relu(self.fc1(x))
        if not self.training:
            x = self.dropout(x)      # identity in eval mode
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def make_loaders():
    rng = np.random.default_rng(0)
    n = 96
    labels = np.arange(n) % 3
    images = rng.normal(0, 0.3, size=(n, 1, 8, 8))
    images[labels == 0, :, :4, :] += 1.0       # class 0: bright top half
    images[labels == 1, :, :, :4] += 1.0       # class 1: bright left half
    x = torch.tensor(images, dtype=torch.float32)
    y = torch.tensor(labels, dtype=torch.long)
    train_ds = torch.utils.data.TensorDataset(x[:64], y[:64])
    test_ds = torch.utils.data.TensorDataset(x[64:], y[64:])
    return (torch.utils.data.DataLoader(train_ds, batch_size=16, shuffle=False),
            torch.utils.data.DataLoader(test_ds, batch_size=16, shuffle=False))


def train_epoch(model, device, loader, optimizer, log):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        log.append(loss.item())


def test(model, device, loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()
            _, pred = output.max(1)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(loader.dataset)
    return test_loss, 100. * correct / len(loader.dataset)


def build():
    return Net()


def train(model, epochs=3):
    device = torch.device('cpu')
    model = model.to(device)
    train_loader, test_loader = make_loaders()
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    log = []
    for epoch in range(1, epochs + 1):
        train_epoch(model, device, train_loader, optimizer, log)
        test_loss, acc = test(model, device, test_loader)
        print(f"epoch {epoch}: test loss {test_loss:.4f}, accuracy {acc:.1f}%")
        log += [test_loss, acc]
        scheduler.step()
    return log


if __name__ == "__main__":
    train(build())
