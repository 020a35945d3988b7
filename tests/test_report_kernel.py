"""The report kernel started ahead of the work (mentor_eval.report.kernel).

Real kernels, real processes: each test starts an ipykernel of this environment.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest
from jupyter_core.utils import run_sync

from mentor_eval.cli import main
from mentor_eval.errors import ParameterError, ReportError
from mentor_eval.report import StartedKernel, render, start_kernel
from mentor_eval.report.kernel import PRELOAD_MODULES

NOTEBOOKS = Path(__file__).parent / "data" / "notebooks"
FIXTURE = NOTEBOOKS / "figures_report.ipynb"

pytestmark = pytest.mark.slow


def _kernel_pid(kernel: StartedKernel) -> int:
    return kernel._manager.provisioner.pid


def _run(kernel: StartedKernel, code: str) -> str:
    """Execute code in the kernel through a client of its own; return what it printed."""
    kc = kernel._manager.client()
    kc.start_channels()
    printed: list[str] = []
    try:
        run_sync(kc.wait_for_ready)(timeout=60)
        reply = run_sync(kc.execute_interactive)(
            code, timeout=60,
            output_hook=lambda m: printed.append(m["content"]["text"]) if m["msg_type"] == "stream" else None)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
    return "".join(printed)


def _gone(pid: int, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def test_started_kernel_imports_the_report_libraries_and_leaves_no_names(tmp_path):
    with start_kernel(cwd=tmp_path) as kernel:
        out = _run(kernel, "import os, sys\n"
                           f"print(all(m in sys.modules for m in {PRELOAD_MODULES!r}))\n"
                           "print('_mentor_eval_preload' in dir())\n"
                           "print(os.getcwd())\n"
                           "print(get_ipython().execution_count)")
        pid = _kernel_pid(kernel)
    loaded, leaked, cwd, count = out.split()
    assert loaded == "True"
    assert leaked == "False"
    assert os.path.samefile(cwd, tmp_path)
    with start_kernel(cwd=tmp_path, preload=None) as plain:
        plain_count = _run(plain, "print(get_ipython().execution_count)").strip()
    assert count == plain_count  # the silent preload did not count as a cell
    assert _gone(pid), "the kernel process outlived the with block"


def test_preload_of_a_missing_module_is_skipped_silently(tmp_path):
    with start_kernel(cwd=tmp_path, preload=("no_such_module_xyz", "json")) as kernel:
        out = _run(kernel, "import sys; print('json' in sys.modules, 'no_such_module_xyz' in sys.modules)")
    assert out.split() == ["True", "False"]


def test_render_runs_in_a_started_kernel_once_and_shuts_it_down(tmp_path):
    kernel = start_kernel(cwd=tmp_path)
    pid = _kernel_pid(kernel)
    res = render(FIXTURE, None, tmp_path / "out", progress=False, kernel=kernel)
    assert res.html.is_file() and res.kernel_name == kernel.kernel_name
    assert _gone(pid), "render left the kernel running"
    with pytest.raises(ReportError, match="already run a notebook"):
        render(FIXTURE, None, tmp_path / "again", progress=False, kernel=kernel)
    assert not (tmp_path / "again" / "figures_report.html").exists()
    kernel.shutdown()  # idempotent


def test_render_rejects_a_kernel_that_disagrees_with_its_arguments(tmp_path):
    with start_kernel(cwd=tmp_path, preload=None) as kernel:
        with pytest.raises(ParameterError, match="'kernel_name' parameter of render"):
            render(FIXTURE, None, tmp_path / "o", progress=False, kernel=kernel, kernel_name="python3")
        with pytest.raises(ParameterError, match="'cwd' parameter of render"):
            render(FIXTURE, None, tmp_path / "o", progress=False, kernel=kernel, cwd=tmp_path / "o")
    with pytest.raises(ParameterError, match="'kernel' parameter of render"):
        render(FIXTURE, None, tmp_path / "o", progress=False, kernel="mentor-eval")


def test_start_kernel_arguments_are_checked_before_any_process_starts(tmp_path):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ParameterError, match="'preload' parameter of start_kernel"):
        start_kernel(preload="mentor_eval.pipeline")
    with pytest.raises(ReportError, match="No Jupyter kernel named 'no-such-kernel'"):
        start_kernel("no-such-kernel")
    with pytest.raises(ReportError, match="working directory"):
        start_kernel(cwd=tmp_path / "missing")
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def test_cli_report_with_a_broken_study_stops_its_kernel(tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text("name: broken\narms: [\n", encoding="utf-8")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    assert main(["report", str(study), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "study.yaml" in capsys.readouterr().err
    started = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert all(_gone(pid) for pid in started)
    assert not (tmp_path / "out").exists()
