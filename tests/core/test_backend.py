"""The process-level tuning `tinynet.tune_process()` applies on request, and its opt-outs."""
import gc
import subprocess
import sys

from tinynet import backend


def _in_fresh_process(code, **env):
    import os
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_only_tune_process_raises_the_gc_threshold_and_it_can_be_told_not_to():
    code = "import gc, tinynet; print(gc.get_threshold()[0])"
    assert int(_in_fresh_process(code)) == 700                 # import changes nothing
    code = "import gc, tinynet; tinynet.tune_process(); print(gc.get_threshold()[0])"
    assert int(_in_fresh_process(code)) == 10000
    assert int(_in_fresh_process(code, TINYNET_GC_TUNING="0")) == 700


def test_tune_gc_never_lowers_a_threshold_or_reenables_collection():
    saved = gc.get_threshold()
    try:
        gc.set_threshold(50000, 10, 10)
        assert backend.tune_gc() is False and gc.get_threshold()[0] == 50000
        gc.set_threshold(0)
        assert backend.tune_gc() is False and gc.get_threshold()[0] == 0
        gc.set_threshold(700, 10, 10)
        assert backend.tune_gc() is True and gc.get_threshold() == (10000, 10, 10)
    finally:
        gc.set_threshold(*saved)


def test_malloc_tuning_applies_on_glibc_and_can_be_turned_off():
    code = "from tinynet import backend; print(backend.tune_malloc())"
    assert _in_fresh_process(code, TINYNET_MALLOC_TUNING="0") == "False"
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL("libc.so.6").mallopt
        except (OSError, AttributeError):
            return                      # not glibc
        assert _in_fresh_process(code) == "True"


def test_cuda_namespace_without_a_gpu_reports_nothing():
    import tinynet as tn
    if tn.cuda.is_available():
        return                                  # tests/gpu covers the real device
    assert tn.cuda.device_count() == 0
    assert tn.cuda.memory_allocated() == 0
    assert tn.cuda.memory_stats()["total_bytes"] == 0
    tn.cuda.synchronize()
    tn.cuda.empty_cache()
