"""Former home of gradcheck; the code lives in tinynet/testing/gradcheck.py."""
from tinynet.testing.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]
