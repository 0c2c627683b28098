"""Neural-network modules, layers, losses and init (PyTorch's torch.nn)."""
