"""Optimizers and learning-rate schedulers (PyTorch's torch.optim).

    import tinynet.optim as optim
    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.lr_scheduler.StepLR(opt, step_size=10)

Optimizers: SGD, Adam, AdamW, NAdam, RAdam, Adamax, RMSprop, Adagrad,
Adadelta, LBFGS (base class Optimizer). Schedulers live in
``optim.lr_scheduler``: StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
CosineAnnealingWarmRestarts, CyclicLR, LambdaLR, MultiplicativeLR, LinearLR,
ConstantLR, PolynomialLR, OneCycleLR, SequentialLR, ReduceLROnPlateau (base
class LRScheduler).
"""
from tinynet.optim import lr_scheduler  # noqa: F401
from tinynet.optim.adadelta import Adadelta  # noqa: F401
from tinynet.optim.adagrad import Adagrad  # noqa: F401
from tinynet.optim.adam import Adam, AdamW  # noqa: F401
from tinynet.optim.adamax import Adamax  # noqa: F401
from tinynet.optim.lbfgs import LBFGS  # noqa: F401
from tinynet.optim.nadam import NAdam  # noqa: F401
from tinynet.optim.optimizer import Optimizer  # noqa: F401
from tinynet.optim.radam import RAdam  # noqa: F401
from tinynet.optim.rmsprop import RMSprop  # noqa: F401
from tinynet.optim.sgd import SGD  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "NAdam", "RAdam", "Adamax", "RMSprop",
           "Adagrad", "Adadelta", "LBFGS", "lr_scheduler"]
