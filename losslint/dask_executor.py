"""`losslint check --executor dask`: the engine's `Executor` on a Dask cluster (losslint's `dask` extra).

- `DaskExecutor(scheduler="tcp://host:8786")` joins a running cluster; without a scheduler it starts a
  `LocalCluster` of `workers` processes, one thread each (the checks are Python and numpy: processes, not
  threads, use the cores), and stops it afterwards. Use it as a context manager.
- Each task is submitted with `retries=1` and a unique key: a task whose worker dies is run again by the
  scheduler on another worker (and a task that raises is tried once more); one that still fails comes back as its
  exception, which the engine reports as an error naming the run. The others go on.
- The tasks read their runs where they run: a worker on another machine reads a bucket itself, and needs the
  same credentials in its environment (`AWS_PROFILE`, ...) and losslint installed.

dask/distributed are imported when an executor is made, never by `import losslint`.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator, Sequence


class DaskUnavailable(RuntimeError):
    """dask[distributed] is not installed, or the scheduler cannot be reached (one line for the user)."""


class DaskExecutor:
    """Runs the engine's tasks on a Dask cluster (see the module docstring)."""

    def __init__(self, *, scheduler: str | None = None, workers: int = 1, connect_timeout: float = 10.0):
        self.scheduler = scheduler
        self.workers = max(1, workers)
        self.connect_timeout = connect_timeout
        self.client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> DaskExecutor:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise DaskUnavailable("--executor dask needs dask[distributed] (losslint's [dask] extra): "
                                  "pip install 'dask[distributed]'") from None
        try:
            if self.scheduler is None:
                # on loopback, no dashboard, and the scheduler's HTTP endpoint on a free port (not 8787, which a
                # second check at the same time, or a user's own cluster, may hold)
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                             host="127.0.0.1", dashboard_address=None,
                                             scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
                self.client = Client(self._cluster)
            else:
                self.client = Client(self.scheduler, timeout=self.connect_timeout)
                self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            where = self.scheduler or "a local cluster"
            raise DaskUnavailable(f"{where}: cannot start or reach the Dask scheduler: {exc}") from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def run(self, task: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        if self.client is None:
            raise RuntimeError("DaskExecutor.run outside `with DaskExecutor(...)`")
        if not items:
            return
        tag = uuid.uuid4().hex
        futures = [self.client.submit(task, item, retries=1, pure=False, key=f"losslint-check-{tag}-{i}")
                   for i, item in enumerate(items)]
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                try:
                    got = future.result()
                except Exception as exc:  # noqa: BLE001 - a lost task is the engine's error to report, not ours
                    got = exc
                yield index[future.key], got
                future.release()
        finally:
            for future in futures:
                future.release()
