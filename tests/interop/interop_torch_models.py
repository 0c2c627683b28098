"""torch.nn versions of tinynet's seed models (same attribute names, so the
same state_dict keys), and a ResNet-18, for the interop tests."""
import torch
import torch.nn as T


def mlp():
    return T.Sequential(T.Flatten(), T.Linear(64, 128), T.ReLU(), T.Linear(128, 10))


def cnn():
    return T.Sequential(T.Conv2d(1, 32, 3, padding=1), T.ReLU(), T.MaxPool2d(2),
                        T.Conv2d(32, 64, 3, padding=1), T.ReLU(), T.MaxPool2d(2), T.Flatten(),
                        T.Linear(256, 512), T.ReLU(), T.Linear(512, 10))


class TorchBlock(T.Module):
    """tinynet.models.ResidualBlock with torch.nn."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = T.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = T.BatchNorm2d(cout)
        self.conv2 = T.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = T.BatchNorm2d(cout)
        self.shortcut = T.Identity() if stride == 1 and cin == cout else T.Sequential(
            T.Conv2d(cin, cout, 1, stride=stride, bias=False), T.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class TorchResNet(T.Module):
    """tinynet.models.SmallResNet with torch.nn."""

    def __init__(self, width=8):
        super().__init__()
        self.stem = T.Sequential(T.Conv2d(1, width, 3, padding=1, bias=False),
                                 T.BatchNorm2d(width), T.ReLU())
        self.blocks = T.Sequential(TorchBlock(width, width), TorchBlock(width, 2 * width, 2),
                                   TorchBlock(2 * width, 4 * width, 2))
        self.pool = T.AdaptiveAvgPool2d(1)
        self.fc = T.Linear(4 * width, 10)

    def forward(self, x):
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


class TorchSentiment(T.Module):
    """tinynet.models.SentimentLSTM with torch.nn: lengths through a packed sequence."""

    def __init__(self, vocab, classes, embed=8, hidden=16):
        super().__init__()
        self.embed = T.Embedding(vocab, embed, padding_idx=0)
        self.lstm = T.LSTM(embed, hidden, batch_first=True)
        self.head = T.Linear(hidden, classes)

    def forward(self, ids, lengths):
        packed = T.utils.rnn.pack_padded_sequence(self.embed(ids), lengths,
                                                  batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.head(h_n[-1])


class TorchLSTMClassifier(T.Module):
    """The sentiment model on full-length sequences (no lengths)."""

    def __init__(self, vocab, classes, embed=8, hidden=16):
        super().__init__()
        self.embed = T.Embedding(vocab, embed, padding_idx=0)
        self.lstm = T.LSTM(embed, hidden, batch_first=True)
        self.head = T.Linear(hidden, classes)

    def forward(self, ids):
        _, (h_n, _) = self.lstm(self.embed(ids))
        return self.head(h_n[-1])


class BasicBlock(T.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = T.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = T.BatchNorm2d(cout)
        self.relu = T.ReLU(inplace=True)
        self.conv2 = T.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = T.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = T.Sequential(T.Conv2d(cin, cout, 1, stride, bias=False),
                                           T.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(T.Module):
    """The ResNet-18 architecture (He et al., 2016) written with torch.nn."""

    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = T.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = T.BatchNorm2d(64)
        self.relu = T.ReLU(inplace=True)
        self.maxpool = T.MaxPool2d(3, 2, 1)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for k, (cin, cout, stride) in enumerate(widths, 1):
            setattr(self, f"layer{k}", T.Sequential(BasicBlock(cin, cout, stride),
                                                    BasicBlock(cout, cout)))
        self.avgpool = T.AdaptiveAvgPool2d(1)
        self.fc = T.Linear(512, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def randomize_batchnorm(model, seed=0):
    """Running statistics away from 0 and 1, so eval-mode BatchNorm does something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (T.BatchNorm1d, T.BatchNorm2d)):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
    return model
