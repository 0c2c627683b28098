"""Op-table entries for nn.functional ops (activations, padding, interpolation, normalization); see op_table.py for ``op``."""
import numpy as np  # noqa: F401

import tinynet as tn  # noqa: F401
import tinynet.nn.functional as F  # noqa: F401
from op_table import op  # noqa: F401
