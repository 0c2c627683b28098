"""``Tensor.to`` tells a device from a dtype the way PyTorch does."""
import pytest

import tinynet as tn


def test_to_takes_dtype_names_devices_and_device_objects():
    x = tn.ones(2)
    assert x.to("float64").dtype == tn.float64
    assert x.to("cpu") is x and x.to(tn.device("cpu")) is x
    assert x.to("cpu", tn.float64).dtype == tn.float64


def test_to_an_unknown_device_names_it():
    with pytest.raises(ValueError, match="unknown device 'mps'"):
        tn.ones(2).to("mps")
