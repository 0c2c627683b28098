"""``import tinynet`` imports none of the interop packages (nor torch): they
load only when tinynet.onnx or a .safetensors file is used."""
import subprocess
import sys

CHECK = ("import tinynet, sys; "
         "loaded = [m for m in ('onnx', 'onnxruntime', 'safetensors', 'torch') "
         "if m in sys.modules]; "
         "assert not loaded, loaded")


def test_import_tinynet_imports_no_interop_package():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_interop_and_dlpack_import_none_of_them_either():
    code = ("import tinynet, tinynet.interop, sys; t = tinynet.ones(2); t.__dlpack_device__(); "
            + CHECK.split("; ", 1)[1])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_tinynet_onnx_imports_onnx_only_when_used():
    code = ("import tinynet.onnx, sys; "
            "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules, "
            "[m for m in sys.modules if m.startswith('onnx')]")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
