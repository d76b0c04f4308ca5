"""One orthophoto of a survey, as a task: :func:`run_one` runs the one run pipeline
(:func:`~..run.run_pipeline`) into the orthophoto's run folder and returns a
:class:`RunRecord`; it runs on a Dask worker or in the survey's own process.

Failures are isolated: a user error of this orthophoto (corrupt file, no CRS...) becomes a
``failed`` record with its one-line message, a cancel a ``cancelled`` record (the run's
staging folder removed, as ``run_pipeline`` always does); anything unexpected is raised,
so that Dask retries the task (and records it as failed after the retries).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..errors import Cancelled, CsbsrError
from ..model.cache import ModelRef
from ..progress import NullProgress, Progress
from .config import SurveyConfig

#: how often a worker task sends progress to, and asks for a cancel from, the survey (s)
POLL_S = 0.5


@dataclass(frozen=True)
class RunTask:
    """One orthophoto to run (picklable).

    Attributes:
        raster: input path; stem: its file stem; folder: its run folder.
        cfg: the survey's settings; model: the model's path + SHA-256.
        threads: torch threads of the task (0 = leave them).
        split: cut the orthophoto into blocks run on other workers (Dask only).
        topic: Dask event topic progress goes to; cancel: name of the Dask ``Event`` that
            cancels the survey (both None in-process).
    """

    raster: str
    stem: str
    folder: str
    cfg: SurveyConfig
    model: ModelRef
    threads: int = 0
    split: bool = False
    topic: Optional[str] = None
    cancel: Optional[str] = None


@dataclass
class RunRecord:
    """What became of one orthophoto (JSON-ready through :meth:`as_dict`).

    Attributes:
        stem, input, folder: the orthophoto, its path and its run folder.
        status: "done", "skipped" (complete from an earlier survey), "failed" or
            "cancelled".
        error: the one-line error of a failed orthophoto.
        seconds: wall time of the run (s).
        summary: the run's crack summary (``<stem>_summary.json``; see
            :class:`~..records.CrackSummary`), empty unless done or skipped.
        worker: where it ran ("local" in-process, else the Dask worker address).
        blocks: blocks it was split into across workers (0 = not split; detection and
            vectorization blocks together); block_workers: the workers that ran them.
    """

    stem: str
    input: str
    folder: str
    status: str
    error: Optional[str] = None
    seconds: float = 0.0
    summary: Dict[str, Any] = field(default_factory=dict)
    worker: str = "local"
    blocks: int = 0
    block_workers: List[str] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        """The record as a dict."""
        return dataclasses.asdict(self)


class TaskProgress:
    """A task's progress on a Dask worker: throttled events to the survey's topic, cancel
    read from the survey's ``Event`` (a :class:`~..progress.Progress`)."""

    def __init__(self, stem: str, topic: str, cancel: Optional[str]) -> None:
        from distributed import Event, get_worker

        self.stem = stem
        self.topic = topic
        self.worker = get_worker()
        self.event = Event(cancel) if cancel else None
        self._sent = self._asked = 0.0
        self._status = ""
        self._cancelled = False

    def _send(self, **msg: Any) -> None:
        self.worker.log_event(self.topic, {"stem": self.stem, **msg})

    def set_progress(self, percent: float) -> None:
        """See :meth:`Progress.set_progress`."""
        now = time.monotonic()
        if now - self._sent >= POLL_S:
            self._sent = now
            self._send(percent=float(percent), status=self._status)

    def set_status(self, text: str) -> None:
        """See :meth:`Progress.set_status`."""
        self._status = text

    def warn(self, text: str) -> None:
        """See :meth:`Progress.warn`."""
        self._send(warning=text)

    def is_cancelled(self) -> bool:
        """See :meth:`Progress.is_cancelled`."""
        now = time.monotonic()
        if self.event is not None and not self._cancelled and now - self._asked >= POLL_S:
            self._asked = now
            self._cancelled = bool(self.event.is_set())
        return self._cancelled


def run_one(task: RunTask, progress: Optional[Progress] = None) -> RunRecord:
    """Run one orthophoto into its run folder (see the module doc).

    Args:
        task: the orthophoto and the survey's settings.
        progress: in-process progress/cancel; None on a worker (events to ``task.topic``).
    """
    from ..model.cache import cached_model
    from ..run import run_pipeline

    t0 = time.perf_counter()
    worker = _worker_address()
    if progress is None:
        progress = (TaskProgress(task.stem, task.topic, task.cancel) if task.topic
                    else NullProgress())
    rec = RunRecord(stem=task.stem, input=task.raster, folder=task.folder, status="failed",
                    worker=worker)
    if progress.is_cancelled():  # queued before the cancel: do not even start
        rec.status = "cancelled"
        return rec
    if task.threads:
        import torch

        torch.set_num_threads(task.threads)
    cfg = task.cfg
    inference = dataclasses.replace(cfg.inference, model_path=task.model.path, overwrite=True)
    try:
        loaded = cached_model(task.model)
        args = (task.raster, task.folder, inference, progress)
        kw = dict(model=loaded, vectorize_cfg=cfg.vectorize, report=cfg.report)
        if task.split and worker != "local":
            from distributed import worker_client

            from .cluster import DaskBlockMap

            with worker_client() as client:  # this task waits outside the worker's slots
                bmap = DaskBlockMap(client, int(cfg.block_mpix * 1e6), task.threads,
                                    cfg.retries)
                try:
                    res = run_pipeline(*args, block_map=bmap, **kw)
                finally:
                    rec.blocks, rec.block_workers = bmap.blocks, sorted(bmap.workers)
        else:
            res = run_pipeline(*args, **kw)
    except Cancelled:
        rec.status = "cancelled"
    except CsbsrError as exc:
        rec.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    else:
        rec.status, rec.summary = "done", dict(res.summary)
    rec.seconds = round(time.perf_counter() - t0, 3)
    return rec


def _worker_address() -> str:
    """The Dask worker running this task, or "local"."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"
