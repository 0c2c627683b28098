"""The skip policy of tests/conftest.py, run on small test files in a
subprocess: an allow-listed skip passes and is counted, any other skip fails
the run, and a run without skips is not disturbed."""
import os
import shutil
import subprocess
import sys
import textwrap

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_pytest(tmp_path, **files):
    shutil.copy(os.path.join(TESTS, "conftest.py"), tmp_path / "conftest.py")
    for name, body in files.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_no_skips_pass_and_report_zero(tmp_path):
    code, out = run_pytest(tmp_path, test_sample="""
        def test_a():
            assert True
    """)
    assert code == 0, out
    assert "allow-listed skips: 0\n" in out and "not on the allow-list" not in out


def test_allow_listed_skips_pass_and_are_counted_by_reason(tmp_path):
    code, out = run_pytest(tmp_path, test_sample="""
        import pytest

        @pytest.mark.skipif(True, reason="needs a CUDA GPU and CuPy")
        def test_gpu():
            pass

        @pytest.mark.parametrize("i", range(2))
        def test_gpu_inside(i):
            pytest.skip("no usable CUDA GPU (CuPy missing, or no device)")

        def test_dot():
            pytest.skip("no `dot` program (apt/brew install graphviz)")

        @pytest.mark.xfail(reason="an expected failure is not a skip")
        def test_xfail():
            assert False

        def test_runs():
            pass
    """)
    assert code == 0, out
    assert "1 passed, 4 skipped, 1 xfailed" in out
    assert "allow-listed skips: 4 (no GPU: 3, no `dot` program: 1)" in out
    assert "not on the allow-list" not in out


def test_skips_off_the_list_fail_the_run_and_are_listed(tmp_path):
    code, out = run_pytest(tmp_path, test_sample="""
        import pytest

        def test_passes():
            pass

        def test_skips():
            pytest.skip("not now")

        def test_needs_a_package():
            pytest.importorskip("a_package_nobody_installed")
    """, test_module_skipped="""
        import pytest
        pytest.importorskip("another_package_nobody_installed")

        def test_never_runs():
            pass
    """)
    assert code == 1, out
    assert "1 passed, 3 skipped" in out
    assert "allow-listed skips: 0" in out
    assert "skips not on the allow-list in tests/conftest.py (they fail the run): 3" in out
    for where in ("test_sample.py::test_skips: not now",
                  "test_sample.py::test_needs_a_package: could not import "
                  "'a_package_nobody_installed'",
                  "test_module_skipped.py: could not import 'another_package_nobody_installed'"):
        assert where in out, out


def run_ci(tmp_path, test_command):
    """.ci/run on a copy whose README's first block is ``true`` and ``test_command``."""
    (tmp_path / ".ci").mkdir(parents=True)
    shutil.copy(os.path.join(os.path.dirname(TESTS), ".ci", "run"), tmp_path / ".ci" / "run")
    (tmp_path / "README.md").write_text(f"# x\n\n```bash\ntrue\n{test_command}\n```\n")
    proc = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True,
                          text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def test_ci_needs_the_skip_summary_and_keeps_pytest_exit_status(tmp_path):
    assert run_ci(tmp_path / "a", "echo 'allow-listed skips: 2 (no GPU: 2)'")[0] == 0
    code, out = run_ci(tmp_path / "b", "echo '3 passed'")
    assert code == 1 and "printed no 'allow-listed skips:' line" in out
    code, out = run_ci(tmp_path / "c", "echo 'allow-listed skips: 0'; exit 5")
    assert code == 1 and "collected no tests (exit 5)" in out
    assert run_ci(tmp_path / "d", "echo 'allow-listed skips: 0'; exit 1")[0] == 1
