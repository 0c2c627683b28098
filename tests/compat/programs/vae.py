"""A variational autoencoder in the style of the VAE example.

Idioms: ``reparameterize`` with ``torch.exp(0.5*logvar)`` and a noise tensor
(passed in, drawn by NumPy, instead of ``torch.randn_like``), ``F.binary_cross_entropy(...,
reduction='sum')``, KL term ``-0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())``,
``x.view(-1, 64)``, ``train_loss += loss.item()``, ``len(loader.dataset)``.
Randomness: data and noise from NumPy, ``shuffle=False``.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc21 = nn.Linear(32, 4)
        self.fc22 = nn.Linear(32, 4)
        self.fc3 = nn.Linear(4, 32)
        self.fc4 = nn.Linear(32, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar, eps):
        std = torch.exp(0.5 * logvar)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x, eps):
        mu, logvar = self.encode(x.view(-1, 64))
        z = self.reparameterize(mu, logvar, eps)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def build():
    return VAE()


def train(model, epochs=3):
    rng = np.random.default_rng(0)
    images = (rng.uniform(size=(48, 1, 8, 8)) > 0.6).astype(np.float32)
    noise = rng.normal(size=(epochs, 48, 4)).astype(np.float32)
    loader = DataLoader(TensorDataset(torch.from_numpy(images),
                                      torch.arange(48)), batch_size=12)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    log = []
    for epoch in range(epochs):
        model.train()
        train_loss = 0
        for batch_idx, (data, idx) in enumerate(loader):
            eps = torch.from_numpy(noise[epoch])[idx]
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data, eps)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            log.append(loss.item() / len(data))
        print('====> Epoch: {} Average loss: {:.4f}'.format(
              epoch, train_loss / len(loader.dataset)))
        log.append(train_loss / len(loader.dataset))
    return log


if __name__ == "__main__":
    train(build())
