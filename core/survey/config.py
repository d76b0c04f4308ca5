"""Configuration of a survey (``csbsr survey``): what each run does and where the runs go."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from ..detect.config import InferenceConfig
from ..errors import ConfigError
from ..vectorize.config import VectorizeConfig


@dataclass(frozen=True)
class SurveyConfig:
    """A survey's settings.

    Attributes:
        inference: detection settings of every run (``overwrite`` is ignored: see below).
        vectorize: vectorization settings of every run.
        report: write each run's HTML report.
        crs: CRS of the survey GeoPackage (anything pyproj reads: "EPSG:2056", WKT...);
            None = the first input's.
        workers: Dask worker processes; None = sized for this machine (a
            ``distributed.LocalCluster``, :func:`~.cluster.plan_workers`); 1 = in this
            process, without Dask. Ignored with a scheduler.
        threads: torch threads per worker; None = cores // workers.
        scheduler: address of a running Dask scheduler (``tcp://host:8786``) or the path of
            its scheduler file (``dask scheduler --scheduler-file``); None = a local cluster.
        split_mpix: an orthophoto larger than this (input megapixels) is cut into blocks run
            on several workers; 0 = never split.
        block_mpix: the size of such a block (input megapixels, whole tile rows).
        overwrite: redo every orthophoto (default: skip those whose run folder is complete).
        retries: extra attempts of an orthophoto whose task failed unexpectedly (a worker
            that died is retried by the scheduler on its own).
    """

    inference: InferenceConfig = field(default_factory=InferenceConfig)
    vectorize: VectorizeConfig = field(default_factory=VectorizeConfig)
    report: bool = True
    crs: Optional[str] = None
    workers: Optional[int] = None
    threads: Optional[int] = None
    scheduler: Optional[str] = None
    split_mpix: float = 64.0
    block_mpix: float = 4.0
    overwrite: bool = False
    retries: int = 2

    def __post_init__(self) -> None:
        if self.workers is not None and int(self.workers) < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.threads is not None and int(self.threads) < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        if float(self.split_mpix) < 0:
            raise ConfigError(f"split_mpix must be >= 0 megapixels, got {self.split_mpix}")
        if not float(self.block_mpix) > 0:
            raise ConfigError(f"block_mpix must be > 0 megapixels, got {self.block_mpix}")
        if int(self.retries) < 0:
            raise ConfigError(f"retries must be >= 0, got {self.retries}")
        if self.crs is not None:
            import pyproj

            try:
                pyproj.CRS.from_user_input(self.crs)
            except pyproj.exceptions.CRSError as exc:
                raise ConfigError(f"unknown CRS {self.crs!r} ({exc}): pass e.g. "
                                  "--crs EPSG:32633") from exc

    @property
    def in_process(self) -> bool:
        """True when the survey runs in this process, without Dask."""
        return self.scheduler is None and self.workers == 1

    def settings(self, model_sha256: str) -> Dict[str, Any]:
        """What decides the content of a run folder (not where or how fast it runs)."""
        from ..config import to_dict

        inf = to_dict(self.inference)
        for volatile in ("overwrite", "threads", "model_path"):  # the model is its SHA-256
            inf.pop(volatile, None)
        return {"inference": inf, "vectorize": to_dict(self.vectorize), "report": self.report,
                "model_sha256": model_sha256}

    def fingerprint(self, model_sha256: str) -> str:
        """SHA-256 (hex, 16 chars) of :meth:`settings`: a resumed survey must match it."""
        text = json.dumps(self.settings(model_sha256), sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
