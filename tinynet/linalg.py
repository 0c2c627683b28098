"""``tn.linalg``: PyTorch's ``torch.linalg`` names for the norms (and the
matrix products) that tinynet has; the ops live in ``tinynet.ops.linalg``."""
from tinynet.ops.linalg import linalg_norm as norm  # noqa: F401
from tinynet.ops.linalg import matmul, matrix_norm, vector_norm  # noqa: F401
