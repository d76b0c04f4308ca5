"""Running a survey's tasks: in this process one after the other, or on a Dask cluster.

Both runners call ``on_record`` with each orthophoto's :class:`~.tasks.RunRecord` as soon as
it is known, report progress (0-100 over the tasks, weighted by their pixels) and stop on a
cancel: in-process the running orthophoto aborts its staging folder at once; on Dask the
survey sets a Dask ``Event`` that every task polls, waits up to :data:`CANCEL_WAIT_S` for the
running tasks to abort theirs, and cancels what has not started.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Sequence, Tuple

from ..errors import Cancelled
from ..progress import Progress, check_cancelled, report_metrics, sub_progress
from .tasks import RunRecord, RunTask

#: how long a cancelled survey waits for running tasks to clean up (s)
CANCEL_WAIT_S = 60.0
TaskFn = Callable[..., RunRecord]
OnRecord = Callable[[RunRecord], None]


def run_in_process(tasks: Sequence[RunTask], weights: Sequence[float], task_fn: TaskFn,
                   progress: Progress, on_record: OnRecord) -> None:
    """Run every task here, in order (``--workers 1``).

    Raises:
        Cancelled: the user cancelled (the running orthophoto left no file).
    """
    total = float(sum(weights)) or 1.0
    done = 0.0
    for task, w in zip(tasks, weights):
        check_cancelled(progress)
        progress.set_status(f"{task.stem}: running")
        sub = sub_progress(progress, 100.0 * done / total, 100.0 * (done + w) / total)
        rec = task_fn(task, sub)
        on_record(rec)
        done += w
        if rec.status == "cancelled":
            check_cancelled(progress)
            raise Cancelled("cancelled by the user; no partial output was left")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    name = type(exc).__name__
    if name == "KilledWorker":
        return ("the worker running it died repeatedly (out of memory, or a crash in a native "
                "library): see the worker logs, then rerun the survey to retry it")
    return f"{name}: {text[0]}" if text else name


def _record(future: Any, task: RunTask) -> RunRecord:
    """The record of a finished future (a task's own record, or one made of its error)."""
    base: Dict[str, Any] = dict(stem=task.stem, input=task.raster, folder=task.folder)
    if future.status == "finished":
        return future.result()
    if future.status == "error":
        return RunRecord(status="failed", error=_one_line(future.exception()), **base)
    return RunRecord(status="cancelled", **base)


class _Events:
    """Progress events of the running tasks (filled on the client's event-loop thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.percent: Dict[str, float] = {}
        self.status: Dict[str, str] = {}
        self.warnings: List[Tuple[str, str]] = []

    def __call__(self, event: Any) -> None:
        _ts, msg = event
        stem = str(msg.get("stem"))
        with self.lock:
            if "warning" in msg:
                self.warnings.append((stem, str(msg["warning"])))
            else:
                self.percent[stem] = float(msg.get("percent", 0.0))
                self.status[stem] = str(msg.get("status", ""))

    def take_warnings(self) -> List[Tuple[str, str]]:
        with self.lock:
            out, self.warnings = self.warnings, []
            return out


def run_on_dask(client: Any, tasks: Sequence[RunTask], weights: Sequence[float],
                task_fn: TaskFn, progress: Progress, on_record: OnRecord,
                retries: int) -> None:
    """Run the tasks on the cluster of ``client`` (see the module doc).

    Raises:
        Cancelled: the user cancelled.
    """
    from distributed import Event

    uid = uuid.uuid4().hex[:10]
    topic = f"csbsr-survey-{uid}"
    cancel = Event(f"csbsr-cancel-{uid}", client=client)
    events = _Events()
    client.subscribe_topic(topic, events)
    futures: Dict[Any, RunTask] = {}
    weight = {t.stem: w for t, w in zip(tasks, weights)}
    for t in tasks:
        task = dataclasses.replace(t, topic=topic, cancel=cancel.name)
        futures[client.submit(task_fn, task, key=f"csbsr-run-{t.stem}-{uid}", pure=False,
                              retries=retries)] = t
    pending = set(futures)
    finished: Dict[str, float] = {}

    def collect() -> None:
        for f in [f for f in pending if f.done()]:
            pending.discard(f)
            rec = _record(f, futures[f])
            finished[rec.stem] = weight[rec.stem]
            on_record(rec)

    try:
        while pending:
            if progress.is_cancelled():
                raise Cancelled("cancelled by the user; no partial output was left")
            collect()
            _report(progress, events, weight, finished, len(tasks))
            time.sleep(0.2)
    except BaseException:
        cancel.set()
        deadline = time.monotonic() + CANCEL_WAIT_S
        while pending and time.monotonic() < deadline:
            collect()
            time.sleep(0.2)
        if pending:
            client.cancel(list(pending))
        raise
    finally:
        client.unsubscribe_topic(topic)


def _report(progress: Progress, events: _Events, weight: Dict[str, float],
            finished: Dict[str, float], n: int) -> None:
    for stem, text in events.take_warnings():
        progress.warn(f"{stem}: {text}")
    with events.lock:
        running = {s: p for s, p in events.percent.items() if s not in finished}
    total = float(sum(weight.values())) or 1.0
    done = sum(finished.values()) + sum(weight[s] * p / 100.0 for s, p in running.items()
                                        if s in weight)
    report_metrics(progress, orthophotos_done=len(finished), orthophotos_total=n)
    progress.set_progress(100.0 * done / total)
    busy = ", ".join(f"{s} {p:.0f} %" for s, p in sorted(running.items())[:4])
    progress.set_status(f"{len(finished)}/{n} orthophotos done" +
                        (f" · running: {busy}" if busy else ""))
