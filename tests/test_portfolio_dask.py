"""Studies as Dask tasks: the pooled results equal the serial run, whatever the workers."""

from __future__ import annotations

import pandas as pd
import pytest
from test_portfolio import tiny_portfolio, tiny_result  # noqa: F401  (session fixtures)

distributed = pytest.importorskip("distributed", reason="the distributed extra is not installed")

pytestmark = pytest.mark.slow


def test_two_worker_local_cluster_equals_serial(tiny_portfolio, tiny_result):  # noqa: F811
    from distributed import LocalCluster

    from mentor_eval.portfolio import run_portfolio

    # threads (processes=False) keep the test fast; the tasks and their gathering are Dask's either way
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        res = run_portfolio(tiny_portfolio, scheduler=cluster.scheduler_address)
    assert res.provenance["run"]["scheduler"] == "address"
    assert tiny_result.provenance["run"]["scheduler"] == "serial"
    for name, table in tiny_result.tables().items():
        pd.testing.assert_frame_equal(res.tables()[name], table, check_exact=True, obj=name)
    assert {k: v for k, v in res.provenance.items() if k != "run"} == \
        {k: v for k, v in tiny_result.provenance.items() if k != "run"}


def test_unreachable_scheduler_is_a_clear_error(tiny_portfolio, monkeypatch):  # noqa: F811
    from mentor_eval import portfolio
    from mentor_eval.errors import ParameterError

    monkeypatch.setattr(portfolio, "DASK_CONNECT_TIMEOUT", "1s")
    for address in ("tcp://127.0.0.1:1", "no-port-given"):
        with pytest.raises(ParameterError, match="Cannot reach the Dask scheduler"):
            portfolio.run_portfolio(tiny_portfolio, scheduler=address)


_THREADS: list[str] = []


def _mean_stat(w):
    import threading

    import numpy as np

    _THREADS.append(threading.current_thread().name)
    x = np.linspace(0.0, 1.0, w.shape[1]) ** 2
    return (w @ x) / w.sum(axis=1)


def test_bootstrap_runs_on_the_same_cluster_through_joblib():
    import numpy as np
    from distributed import LocalCluster
    from joblib.parallel import get_active_backend

    from mentor_eval.parallel import resampling_plan, run_bootstrap
    from mentor_eval.portfolio import dask_client

    plan = resampling_plan(60, clusters=[i // 3 for i in range(60)])
    serial = run_bootstrap(_mean_stat, plan, 400, seed=5, n_jobs=1, chunk_size=100)
    _THREADS.clear()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with dask_client(cluster.scheduler_address):
            assert type(get_active_backend()[0]).__name__ == "DaskDistributedBackend"
            on_dask = run_bootstrap(_mean_stat, plan, 400, seed=5, n_jobs=2, chunk_size=100)
    # the replicates ran in the Dask workers' threads (processes=False), not in this one
    assert len(_THREADS) == 4 and all("Dask-" in t for t in _THREADS), _THREADS
    np.testing.assert_array_equal(on_dask, serial)
