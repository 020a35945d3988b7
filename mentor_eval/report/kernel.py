"""The Jupyter kernel a report runs in: installed once per environment, started ahead of the work.

:func:`ensure_kernel` installs this environment's kernelspec. :func:`start_kernel` starts a
kernel and has it import the report's libraries while it waits for its first cell, so that the
kernel's own start-up (ipykernel, then pandas, SciPy, statsmodels, pandera and plotly: about
1.5 s on the sample report) runs on another core while the caller is still reading the study
file and importing papermill. :func:`mentor_eval.report.render` uses a started kernel for one
notebook and shuts it down when the last cell has run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from mentor_eval.errors import ParameterError, ReportError

__all__ = ["DEFAULT_KERNEL", "PRELOAD_MODULES", "StartedKernel", "ensure_kernel", "start_kernel"]

#: Kernel name installed by :func:`ensure_kernel`.
DEFAULT_KERNEL = "mentor-eval"

#: Modules a started kernel imports before its first cell: those of the report notebooks' import
#: cell and those the analysis imports on first use (pandera, for validation).
PRELOAD_MODULES = (
    "IPython.display",
    "mentor_eval.pipeline",
    "mentor_eval.validation",
    "mentor_eval.report.display",
    "mentor_eval.report.export",
    "mentor_eval.report.figures",
    "mentor_eval.report.headline",
    "mentor_eval.report.html",
    "mentor_eval.report.mechanisms",
    "mentor_eval.report.names",
    "mentor_eval.report.narrative",
    "mentor_eval.report.protect",
    "mentor_eval.report.tables",
)

# Runs silently (no output cell, no execution count, no history) and leaves no name behind in the
# notebook's namespace. A module that fails to import is skipped: the cell that imports it reports
# the error where the reader can see it.
_PRELOAD_CODE = """\
def _mentor_eval_preload(names):
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass
_mentor_eval_preload({names!r})
del _mentor_eval_preload
"""

# nbclient starts its kernels with an in-memory IPython history; so do we.
_KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]


def _runs_this_python(argv: list[str]) -> bool:
    if not argv:
        return False
    # abspath, not realpath: a virtual environment's python is a symlink to the base
    # interpreter, and resolving it would confuse two environments.
    return os.path.normcase(os.path.abspath(argv[0])) == os.path.normcase(os.path.abspath(sys.executable))


def ensure_kernel(name: str = DEFAULT_KERNEL) -> str:
    """Make sure a Jupyter kernel ``name`` runs the current interpreter; install it if not.

    Parameters
    ----------
    name : str, default "mentor-eval"
        Kernel name.

    Returns
    -------
    str
        ``name``, ready to pass to papermill.

    Raises
    ------
    ReportError
        The kernelspec cannot be written, or another kernel of that name running a
        different Python takes precedence on the Jupyter path.

    Notes
    -----
    The kernelspec is written with ``--sys-prefix`` semantics
    (``<sys.prefix>/share/jupyter/kernels/<name>``, through
    :func:`ipykernel.kernelspec.install`), so it belongs to this environment and
    runs ``sys.executable``. A spec of the same name that runs another interpreter
    (e.g. left by a deleted environment) is replaced. If the environment is not
    writable, the spec goes to the user's Jupyter directory instead.

    Examples
    --------
    >>> ensure_kernel()  # doctest: +SKIP
    'mentor-eval'
    """
    if not isinstance(name, str) or not name or any(c in name for c in "/\\ "):
        raise ParameterError(f"The 'name' parameter of ensure_kernel must be a kernel name without spaces "
                             f"or slashes; got {name!r}.")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def current() -> Any:
        try:
            return KernelSpecManager().get_kernel_spec(name)
        except NoSuchKernel:
            return None

    spec = current()
    if spec is not None and _runs_this_python(list(spec.argv)):
        return name
    from ipykernel.kernelspec import install

    display = f"Python {sys.version_info[0]}.{sys.version_info[1]} (mentor-eval)"
    try:
        install(kernel_name=name, display_name=display, prefix=sys.prefix)
    except OSError as exc:
        try:
            install(kernel_name=name, display_name=display, user=True)
        except OSError:
            raise ReportError(
                f"Could not install the Jupyter kernel {name!r} for {sys.executable}: {exc}. "
                f"Run: {sys.executable} -m ipykernel install --sys-prefix --name {name}"
            ) from exc
    spec = current()
    if spec is None or not _runs_this_python(list(spec.argv)):
        where = getattr(spec, "resource_dir", "?")
        raise ReportError(
            f"A Jupyter kernel named {name!r} in {where} runs another Python ({spec.argv[0] if spec else '?'}) "
            f"and takes precedence over this environment's ({sys.executable}). Remove it with "
            f"'jupyter kernelspec remove {name}' or pass another kernel name."
        )
    return name


def _check_kernel_exists(name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    names = sorted(KernelSpecManager().find_kernel_specs())
    if name not in names:
        raise ReportError(
            f"No Jupyter kernel named {name!r}; available: {', '.join(names) or 'none'}. "
            f"Leave kernel_name unset to use this environment's '{DEFAULT_KERNEL}' kernel."
        )


def _kernel_manager_class() -> type | None:
    """An async kernel manager that provisions CurveZMQ keys when it can.

    ipykernel 7 warns "Kernel is running over TCP without encryption" on every
    start unless the manager hands it Curve keys; jupyter_client >= 8.8 does so with
    ``transport_encryption="auto"`` for kernelspecs that declare support.
    """
    try:
        import zmq
        from jupyter_client.manager import AsyncKernelManager
        from traitlets import default
    except ImportError:  # pragma: no cover
        return None
    if "transport_encryption" not in AsyncKernelManager.class_trait_names() or not zmq.has("curve"):
        return None

    class _EncryptedKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _default_transport_encryption(self) -> str:
            return "auto"

    return _EncryptedKernelManager


class StartedKernel:
    """A kernel started by :func:`start_kernel`, waiting for one notebook.

    Use it as a context manager (the kernel is shut down on exit) and pass it to
    :func:`mentor_eval.report.render`, which runs one notebook in it and shuts it down after the
    last cell. A kernel runs one notebook only: a second ``render`` with it raises
    :class:`~mentor_eval.errors.ReportError`.

    Attributes
    ----------
    kernel_name : str
        The kernelspec it runs.
    cwd : pathlib.Path
        The kernel's working directory.
    """

    def __init__(self, manager: Any, client: Any, kernel_name: str, cwd: Path) -> None:
        self._manager = manager
        self._client = client
        self.kernel_name = kernel_name
        self.cwd = cwd
        self._taken = False
        self._closed = False

    def __repr__(self) -> str:
        state = "shut down" if self._closed else ("running a notebook" if self._taken else "waiting")
        return f"StartedKernel({self.kernel_name!r}, {state})"

    def _take(self) -> Any:
        """The kernel manager, for the one notebook this kernel runs."""
        if self._taken or self._closed:
            raise ReportError("This started kernel has already run a notebook (or was shut down); "
                              "start a new one with start_kernel() for each render.")
        self._taken = True
        return self._manager

    def shutdown(self) -> None:
        """Stop the kernel at once (idempotent): every output is already in the notebook."""
        if self._closed:
            return
        self._closed = True
        from jupyter_core.utils import run_sync

        if self._client is not None:
            self._client.stop_channels()
            self._client = None
        km = self._manager
        try:
            if run_sync(km.is_alive)():
                run_sync(km.shutdown_kernel)(now=True)
        except RuntimeError as exc:  # already gone
            if "No kernel is running" not in str(exc):
                raise
        finally:
            run_sync(km.cleanup_resources)()

    def __enter__(self) -> StartedKernel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()


def _preload_client(km: Any) -> Any:
    """A blocking client on the kernel's shell channel only, with a session of its own.

    Not ``km.client()``: that client shares the manager's session (and so its record of message
    signatures) with the notebook client papermill creates, and an asynchronous client's send is
    only completed by an event loop that nothing runs yet; with it, one kernel start in four never
    answered the notebook client (seen with jupyter_client 8.10, ipykernel 7.4).
    """
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.session import Session

    client = BlockingKernelClient()
    client.load_connection_info(km.get_connection_info(session=False))
    client.session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme)
    client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
    return client


def start_kernel(kernel_name: str | None = None, *, cwd: str | os.PathLike[str] | None = None,
                 preload: tuple[str, ...] | list[str] | None = PRELOAD_MODULES) -> StartedKernel:
    """Start a report kernel now and let it import the report's libraries in the background.

    Parameters
    ----------
    kernel_name : str, optional
        Jupyter kernel; default: this environment's ``mentor-eval`` kernel, installed on first
        use by :func:`ensure_kernel`.
    cwd : path, optional
        The kernel's working directory (default: the current directory), against which relative
        paths in a notebook's parameters are read.
    preload : sequence of str or None, default :data:`PRELOAD_MODULES`
        Modules the kernel imports before its first cell; ``None`` or empty: none.

    Returns
    -------
    StartedKernel
        Pass it to :func:`mentor_eval.report.render` as ``kernel=``; a context manager.

    Raises
    ------
    ReportError
        Unknown kernel, or the kernel process could not be started.

    Notes
    -----
    The call returns as soon as the kernel process is launched; the kernel boots and imports on
    its own core while the caller goes on. The imports are sent as one silent execute request
    (no output, no execution count, no history, no names left in the notebook's namespace), which
    the kernel finishes before it answers the notebook client's first request. If the caller dies,
    ipykernel notices that its parent is gone and exits.

    Examples
    --------
    >>> from mentor_eval.report import render, start_kernel  # doctest: +SKIP
    >>> with start_kernel() as kernel:  # doctest: +SKIP
    ...     study = load_study("study.yaml")  # runs while the kernel starts
    ...     render("notebooks/evaluation_report.ipynb", {"study_path": "study.yaml"}, "reports",
    ...            kernel=kernel)
    """
    if kernel_name is None:
        kernel_name = ensure_kernel()
    elif not isinstance(kernel_name, str) or not kernel_name:
        raise ParameterError(f"The 'kernel_name' parameter of start_kernel must be a kernel name; "
                             f"got {kernel_name!r}.")
    else:
        _check_kernel_exists(kernel_name)
    if preload is not None and (isinstance(preload, str)
                                or not all(isinstance(m, str) and m for m in preload)):
        raise ParameterError(f"The 'preload' parameter of start_kernel must be a sequence of module "
                             f"names or None; got {preload!r}.")
    workdir = Path(cwd) if cwd is not None else Path.cwd()
    if not workdir.is_dir():
        raise ReportError(f"The kernel's working directory {str(workdir)!r} does not exist.")
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    km = (_kernel_manager_class() or AsyncKernelManager)(kernel_name=kernel_name)
    try:
        run_sync(km.start_kernel)(extra_arguments=list(_KERNEL_ARGUMENTS), cwd=str(workdir))
    except Exception as exc:
        raise ReportError(f"Could not start the Jupyter kernel {kernel_name!r}: {exc}") from exc
    client = None
    if preload:
        client = _preload_client(km)
        client.execute(_PRELOAD_CODE.format(names=tuple(preload)), silent=True, store_history=False)
    return StartedKernel(km, client, kernel_name, workdir)
