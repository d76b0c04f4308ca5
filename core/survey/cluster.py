"""Where a survey runs: a local Dask cluster sized for this machine, an existing cluster, or
this process; the per-worker set-up (torch threads, the model loaded once); block maps.

**Sizing rule** (:func:`plan_workers`). A task is one orthophoto (or one block of a huge
one) and runs on one Dask thread; inside it torch parallelises each convolution over its
intra-op threads. So every worker gets exactly one Dask thread and ``T`` torch threads, and
``workers x T <= cores`` keeps torch from oversubscribing the cores:

- ``workers = min(parallel tasks, cores // T, memory // WORKER_MEMORY)``,
- ``T = --threads``, or else ``cores // workers`` once ``workers`` is known (with
  ``T = 1`` first, so as many orthophotos as cores run side by side: processes scale better
  than intra-op threads on small tiles; a single orthophoto gets every core as threads).

On a 2-core machine: two or more orthophotos give 2 workers x 1 thread, one orthophoto
1 worker x 2 threads. Each worker sets ``torch.set_num_threads(T)`` (the environment's
``OMP_NUM_THREADS`` is set to ``T`` too) and loads the model once (:class:`SurveyPlugin`).
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Set, Tuple

from ..errors import InvalidInputError
from ..model.cache import ModelRef

log = logging.getLogger(__name__)

#: memory one worker needs at most (model, GDAL cache, tile buffers, vectorization), bytes
WORKER_MEMORY = 2 * 2**30


@dataclass(frozen=True)
class WorkerPlan:
    """How many workers and threads, and why.

    Attributes:
        workers: worker processes; threads: torch threads per worker.
        why: the rule applied, in words (for the log and the survey summary).
    """

    workers: int
    threads: int
    why: str


def machine_cores() -> int:
    """CPU cores this process may use (its affinity mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def machine_memory() -> Optional[int]:
    """Physical memory in bytes, or None when unknown."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def plan_workers(tasks: int, cores: int, workers: Optional[int] = None,
                 threads: Optional[int] = None, memory: Optional[int] = None) -> WorkerPlan:
    """Workers x torch threads for ``tasks`` parallel tasks on ``cores`` cores (module doc).

    Args:
        tasks: tasks that can run at once (orthophotos to do, blocks of huge ones).
        cores: usable CPU cores.
        workers, threads: the user's choice (None = decide).
        memory: physical memory in bytes (None = not limiting).
    """
    by_memory = max(1, memory // WORKER_MEMORY) if memory else cores
    if workers is None:
        t = threads or 1
        workers = max(1, min(tasks, cores // t, by_memory))
        why = (f"min({tasks} parallel tasks, {cores} cores // {t} thread(s), "
               f"{by_memory} by memory at {WORKER_MEMORY / 2**30:.0f} GiB per worker)")
    else:
        why = "--workers"
    if threads is None:
        threads = max(1, cores // workers)
        why += f"; {cores} cores // {workers} worker(s) = {threads} torch thread(s) each"
    else:
        why += f"; --threads {threads}"
        if workers * threads > cores:
            why += f" (oversubscribed: {workers * threads} threads on {cores} cores)"
    return WorkerPlan(int(workers), int(threads), why)


def _dask_plugin_base() -> Any:
    from distributed.diagnostics.plugin import WorkerPlugin

    return WorkerPlugin


class SurveyPlugin(_dask_plugin_base()):  # type: ignore[misc]
    """Set up each worker once: torch threads, the model loaded from its path + SHA-256
    (:func:`~..model.cache.cached_model`), and, on a local cluster, Ctrl-C left to the
    survey process (which cancels the tasks cleanly) instead of killing the workers.

    Args:
        model: the model's path + SHA-256.
        threads: torch threads per worker; 0 = the worker machine's cores // the Dask
            threads on that machine (``host_threads``, else the worker's own).
        host_threads: Dask threads per worker host (IP) when the plugin was registered.
        ignore_sigint: ignore SIGINT in the workers (local cluster).
    """

    name = "csbsr-survey"

    def __init__(self, model: ModelRef, threads: int,
                 host_threads: Optional[Dict[str, int]] = None,
                 ignore_sigint: bool = False) -> None:
        self.model = model
        self.threads = int(threads)
        self.host_threads = dict(host_threads or {})
        self.ignore_sigint = ignore_sigint

    def setup(self, worker: Any) -> None:
        """Called by Dask on every worker, present and future."""
        import signal
        import threading

        import torch

        from ..model.cache import cached_model

        threads = self.threads
        if not threads:
            here = self.host_threads.get(str(worker.ip)) or worker.state.nthreads
            threads = max(1, machine_cores() // max(1, int(here)))
        torch.set_num_threads(threads)
        if self.ignore_sigint and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        cached_model(self.model)


@dataclass(frozen=True)
class Cluster:
    """An open Dask client and what the survey reports about it.

    Attributes:
        client: the ``distributed.Client``.
        where: in words, e.g. "local Dask cluster: 2 workers x 1 torch thread(s)".
        threads: torch threads a task sets (0 = leave the worker's, set by the plugin).
    """

    client: Any
    where: str
    threads: int


#: how long a survey waits for the first worker of an existing cluster (s)
WORKER_WAIT_S = 60


@contextlib.contextmanager
def open_client(scheduler: Optional[str], plan: WorkerPlan, model: ModelRef,
                threads: Optional[int] = None) -> Iterator[Cluster]:
    """A Dask client on ``scheduler`` (address or scheduler file) or on a new local cluster
    sized by ``plan``, with :class:`SurveyPlugin` registered; closed on exit (a local
    cluster is shut down, an existing one is left running).

    Args:
        scheduler: address or scheduler file; None = a ``LocalCluster`` of ``plan``.
        plan: the local sizing.
        model: the model the workers load.
        threads: torch threads per worker on an existing cluster (None = per machine: its
            cores // its Dask threads).

    Raises:
        InvalidInputError: the scheduler cannot be reached, or no worker joins it.
    """
    from distributed import Client, LocalCluster

    if not log.isEnabledFor(logging.DEBUG):  # distributed logs every connection at INFO
        logging.getLogger("distributed").setLevel(logging.WARNING)
        # "worker still alive after 4 s, killing" at shutdown, once every task has ended
        logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
    cluster = None
    try:
        if scheduler is None:
            env = {"OMP_NUM_THREADS": str(plan.threads), "MKL_NUM_THREADS": str(plan.threads)}
            if os.environ.get("PYTHONPATH"):
                env["PYTHONPATH"] = os.environ["PYTHONPATH"]
            cluster = LocalCluster(n_workers=plan.workers, threads_per_worker=1,
                                   processes=True, dashboard_address="127.0.0.1:0", env=env)
            client = Client(cluster)
        else:
            client = _connect(scheduler)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise InvalidInputError(f"cannot reach the Dask scheduler {scheduler} ({exc}): start "
                                "it (dask scheduler) or check the address/file") from exc
    try:
        if cluster is not None:
            info = Cluster(client, f"local Dask cluster: {plan.workers} workers x "
                                   f"{plan.threads} torch thread(s)", plan.threads)
            plugin = SurveyPlugin(model, plan.threads, ignore_sigint=True)
        else:
            info, plugin = _existing(client, str(scheduler), model, threads)
        client.register_plugin(plugin)
        yield info
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _existing(client: Any, scheduler: str, model: ModelRef, threads: Optional[int]
              ) -> Tuple[Cluster, SurveyPlugin]:
    """Describe an existing cluster (waiting for a first worker) and its plugin."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except Exception as exc:  # distributed raises its own TimeoutError
        raise InvalidInputError(
            f"no Dask worker joined the scheduler {scheduler} within {WORKER_WAIT_S} s: start "
            "workers (dask worker ADDRESS --nthreads 1) where csbsr is installed") from exc
    workers = client.scheduler_info()["workers"].values()
    host_threads: Dict[str, int] = {}
    for w in workers:
        host_threads[str(w["host"])] = host_threads.get(str(w["host"]), 0) + int(w["nthreads"])
    where = (f"Dask cluster at {scheduler}: {len(workers)} workers on {len(host_threads)} "
             f"machine(s), {sum(host_threads.values())} Dask threads, torch threads "
             f"{threads if threads else 'cores // Dask threads of each machine'}")
    return (Cluster(client, where, int(threads or 0)),
            SurveyPlugin(model, int(threads or 0), host_threads))


def _connect(scheduler: str) -> Any:
    from distributed import Client

    if "://" in scheduler or not os.path.exists(scheduler):
        return Client(scheduler, timeout="20s")
    return Client(scheduler_file=scheduler, timeout="20s")


def worker_threads(client: Any) -> int:
    """Dask threads in the cluster (= tasks it runs at once)."""
    return max(1, sum(client.nthreads().values()))


def _call_block(fn: Callable[[Any], Any], item: Any, threads: int) -> Tuple[str, Any]:
    """Run one block on a worker with the survey's torch threads; (worker, result)."""
    import torch
    from distributed import get_worker

    if threads:
        torch.set_num_threads(threads)
    return str(get_worker().address), fn(item)


class DaskBlockMap:
    """A :class:`~..raster.tiling.BlockMap` over a Dask cluster: blocks become tasks (ahead
    of new orthophotos), at most ``ahead`` in flight, results yielded in order; closing the
    iterator cancels the rest. Counts the blocks and the workers that ran them.

    Args:
        client: a client (in a task: ``distributed.worker_client()``).
        block_px: target block size in pixels.
        threads: torch threads of a block task.
        retries: extra attempts of a block that failed.
    """

    def __init__(self, client: Any, block_px: int, threads: int, retries: int = 2) -> None:
        self.client = client
        self.block_px = int(block_px)
        self.threads = int(threads)
        self.retries = int(retries)
        self.ahead = max(4, 2 * worker_threads(client))
        self.blocks = 0
        self.workers: Set[str] = set()

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        """Apply the map / read the window (see the class docstring)."""
        futures: list = []
        nxt = 0
        try:
            for i in range(len(items)):
                while nxt < len(items) and nxt < i + self.ahead:
                    futures.append(self.client.submit(
                        _call_block, fn, items[nxt], self.threads, pure=False, priority=10,
                        retries=self.retries))
                    nxt += 1
                worker, out = futures[i].result()
                futures[i] = None  # let Dask forget it
                self.blocks += 1
                self.workers.add(worker)
                yield out
        finally:
            left = [f for f in futures if f is not None and not f.done()]
            if left:
                self.client.cancel(left)
