"""Numba kernels for tinynet's hot paths, installed as ``tinynet.kernels``."""
