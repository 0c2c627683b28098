"""Neural-network modules, layers, losses and init (PyTorch's torch.nn).

Use it as ``import tinynet.nn as nn`` and ``import tinynet.nn.functional as F``.
"""
from tinynet.nn import functional, init, utils  # noqa: F401
from tinynet.nn.activation import (  # noqa: F401
    ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh)
from tinynet.nn.conv import (  # noqa: F401
    AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, Conv1d, Conv2d, ConvTranspose2d, MaxPool2d)
from tinynet.nn.container import ModuleDict, ModuleList, Sequential  # noqa: F401
from tinynet.nn.dropout import Dropout, Dropout2d  # noqa: F401
from tinynet.nn.linear import Flatten, Identity, Linear, Unflatten  # noqa: F401
from tinynet.nn.loss import (  # noqa: F401
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss,
    NLLLoss, SmoothL1Loss)
from tinynet.nn.module import Module, Parameter  # noqa: F401
from tinynet.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm  # noqa: F401
from tinynet.nn.sparse import Embedding  # noqa: F401
