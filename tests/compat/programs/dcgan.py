"""A DCGAN-style GAN on 8x8 synthetic images.

Idioms: ``nn.ConvTranspose2d`` generator with ``nn.BatchNorm2d``, ``nn.Tanh``;
discriminator with ``nn.LeakyReLU(0.2, inplace=True)`` and ``nn.Sigmoid``;
``weights_init`` via ``classname.find('Conv')``; ``nn.BCELoss``; two Adam
optimizers with ``betas=(0.5, 0.999)``; ``torch.full(..., real_label)``,
``label.fill_(fake_label)``; ``fake.detach()``; ``D_x = output.mean().item()``.
Randomness: noise and images from NumPy; initial weights loaded by the harness.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

nz, ngf, ndf, nc = 8, 8, 8, 1


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()
        self.main = nn.Sequential(
            # nz x 1 x 1 -> ngf*2 x 4 x 4
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # -> nc x 8 x 8
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 2, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def build():
    netG, netD = Generator(), Discriminator()
    netG.apply(weights_init)
    netD.apply(weights_init)
    return {"G": netG, "D": netD}


def train(nets, iters=12, batch_size=16):
    netG, netD = nets["G"], nets["D"]
    rng = np.random.default_rng(0)
    xs = np.linspace(-1, 1, 8)
    blob = np.exp(-(xs[:, None] ** 2 + xs[None, :] ** 2) * 3)
    criterion = nn.BCELoss()
    real_label, fake_label = 1., 0.
    optimizerD = optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
    log = []
    for i in range(iters):
        images = blob[None, None] * rng.uniform(0.5, 1.0, size=(batch_size, 1, 1, 1)) * 2 - 1
        real_cpu = torch.from_numpy(images.astype(np.float32))
        noise = torch.from_numpy(rng.normal(size=(batch_size, nz, 1, 1)).astype(np.float32))

        # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        label = torch.full((batch_size,), real_label, dtype=torch.float)
        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()

        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()

        # (2) update G: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        print('[%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f'
              % (i, iters, errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
        log.append([errD.item(), errG.item(), D_x, D_G_z1, D_G_z2])
    return log


if __name__ == "__main__":
    train(build())
