"""Suite-wide policy: no hidden skips.

A test may skip only for a reason on ``SKIP_ALLOW_LIST``: the machine has no
GPU (or CuPy, or the CUDA simulator is off), or no Graphviz ``dot`` program
(it comes from the system's package manager, not from pip). Any other skip,
such as a package missing from the ``test`` extra or a forgotten
``pytest.skip``, makes the run fail (exit status 1) and is listed at the
end; the allow-listed skips are counted by reason::

    allow-listed skips: 41 (no GPU: 40, no `dot` program: 1)

tests/testing/test_conftest_skips.py runs this hook on small test files.
"""
import re
from collections import Counter

import pytest

# name -> pattern searched in the skip's reason
SKIP_ALLOW_LIST = {
    "no GPU": re.compile(r"needs a (CUDA )?GPU|no usable CUDA GPU|CuPy missing"),
    "CUDA simulator off": re.compile(r"gradcheck on the GPU runs in tests/gpu/test_cupy_ops\.py"),
    "CUDA simulator on": re.compile(r"the simulator runs CUDA versions on NumPy"),
    "no Numba CUDA on this GPU": re.compile(r"Numba's CUDA kernels do not compile on this "
                                            r"machine"),
    "no `dot` program": re.compile(r"no `dot` program"),
}

_allowed = Counter()
_refused = []                     # (test id, reason)


def _reason(report):
    """The reason text of a skipped test or collection report."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


def _allow_list_name(reason):
    return next((name for name, pattern in SKIP_ALLOW_LIST.items() if pattern.search(reason)),
                None)


def _record(report):
    if not report.skipped or hasattr(report, "wasxfail"):     # xfail is not a skip
        return
    reason = _reason(report)
    name = _allow_list_name(reason)
    if name is None:
        _refused.append((report.nodeid, reason))
    else:
        _allowed[name] += 1


def pytest_runtest_logreport(report):
    _record(report)


def pytest_collectreport(report):
    _record(report)               # a module skipped at import (importorskip)


def pytest_sessionfinish(session, exitstatus):
    # a run that would pass (or found no test) fails on a skip off the list
    if _refused and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    counts = ", ".join(f"{name}: {n}" for name, n in _allowed.most_common())
    terminalreporter.write_line(f"allow-listed skips: {sum(_allowed.values())}"
                                + (f" ({counts})" if counts else ""))
    if _refused:
        terminalreporter.write_line(f"skips not on the allow-list in tests/conftest.py "
                                    f"(they fail the run): {len(_refused)}", red=True)
        for nodeid, reason in _refused:
            terminalreporter.write_line(f"  {nodeid}: {reason}", red=True)
