"""Neural-network modules, layers, losses and init (PyTorch's torch.nn).

Use it as ``import tinynet.nn as nn`` and ``import tinynet.nn.functional as F``.
The ``Example::`` sections of the layers' docstrings assume these names and
``import tinynet as tn``; tests/docs/test_docstring_examples.py runs them.
"""
from tinynet.nn import functional, init, utils  # noqa: F401
from tinynet.nn.activation import (  # noqa: F401
    CELU, ELU, GELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid,
    LogSoftmax, Mish, PReLU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus, Softsign, Tanh,
    Tanhshrink)
from tinynet.nn.conv import (  # noqa: F401
    AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, Conv1d, Conv2d, ConvTranspose2d, MaxPool2d)
from tinynet.nn.container import ModuleDict, ModuleList, Sequential  # noqa: F401
from tinynet.nn.distance import CosineSimilarity, PairwiseDistance  # noqa: F401
from tinynet.nn.dropout import Dropout, Dropout2d  # noqa: F401
from tinynet.nn.linear import Flatten, Identity, Linear, Unflatten  # noqa: F401
from tinynet.nn.loss import (  # noqa: F401
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss,
    NLLLoss, SmoothL1Loss)
from tinynet.nn.module import Module, Parameter  # noqa: F401
from tinynet.nn import modules  # noqa: F401,E402  (torch.nn.modules.module's path)
from tinynet.nn.normalization import (  # noqa: F401
    BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm1d, InstanceNorm2d, LayerNorm)
from tinynet.nn.padding import (  # noqa: F401
    CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d,
    ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d,
    ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from tinynet.nn.pixelshuffle import PixelShuffle, PixelUnshuffle  # noqa: F401
from tinynet.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: F401
from tinynet.nn.sparse import Embedding  # noqa: F401
from tinynet.nn.attention import MultiheadAttention  # noqa: F401
from tinynet.nn.transformer import (  # noqa: F401
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer)
from tinynet.nn.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: F401
