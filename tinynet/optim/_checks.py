"""Argument checks shared by the optimizers (PyTorch's messages, with the optimizer's name)."""


def check_nonneg(opt, what, value):
    """Raise ValueError unless ``value >= 0`` (learning rates, eps, weight decay...)."""
    if not value >= 0.0:      # also rejects NaN
        raise ValueError(f"{opt}: invalid {what}: {value} (expected {what} >= 0)")


def check_betas(opt, betas):
    """Raise ValueError unless ``betas`` is a pair of numbers in [0, 1)."""
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"{opt}: betas must be a pair (beta1, beta2), got {betas!r}") from None
    for i, beta in enumerate((beta1, beta2)):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{opt}: invalid beta parameter at index {i}: {beta} "
                             "(expected 0 <= beta < 1)")
