"""Datasets, DataLoader and transforms."""
