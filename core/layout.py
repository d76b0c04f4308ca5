"""The one owner of output file names: run folders, survey folders and comparison folders.

Pure Python (no numpy, no GDAL): the QGIS plugin, the CLI, the report and the survey engine
all read names from here and nowhere else.

A **run folder** (``csbsr run ORTHO --out DIR``) holds, for an orthophoto ``<stem>.tif``:

============ ============================== ===============================================
role         file                           content
============ ============================== ===============================================
prob         ``<stem>_prob.tif``            crack probability (x 255), ``scale`` x finer grid
mask         ``<stem>_mask.tif``            1 = crack, 0 = background, 255 = nodata
sr           ``<stem>_sr.tif``              super-resolved RGB (optional)
run          ``<stem>_run.json``            resolved settings, device, input, model card
cracks       ``<stem>_cracks.gpkg``         layers ``crack_seg``, ``crack_node``, ``crack_sum``
summary      ``<stem>_summary.json``        totals (length, density, severity...)
report       ``<stem>_report.html``         self-contained HTML report (+ CSV tables)
report_content ``<stem>_report.json``       what the report contains (for the PDF layout)
report_pdf   ``<stem>_report.pdf``          PDF report (QGIS print layout)
============ ============================== ===============================================

A **survey folder** (``csbsr survey``) holds one run folder per orthophoto under
``runs/<stem>/`` plus ``survey_cracks.gpkg`` (every orthophoto's lines, field ``source``),
``survey_summary.json`` and ``survey_summary.html``.

A **comparison folder** (``csbsr compare OLD NEW``) holds ``change.gpkg`` (layer
``crack_change``), ``change_summary.json``, ``change_report.html`` and ``change_report.pdf``.

Staging: a run writes its files under ``.<stem>.staging/`` inside the output folder and moves
them into place only when the whole run succeeded (see :mod:`core.atomic`); a survey stages
its own three files under ``.survey.staging/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

PathLike = Union[str, Path]

#: run-folder roles -> file-name suffix after the orthophoto stem
RUN_FILES: Dict[str, str] = {
    "prob": "_prob.tif",
    "mask": "_mask.tif",
    "sr": "_sr.tif",
    "run": "_run.json",
    "cracks": "_cracks.gpkg",
    "summary": "_summary.json",
    "report": "_report.html",
    "report_content": "_report.json",
    "report_pdf": "_report.pdf",
}
#: the roles a complete run folder has (``sr`` and the reports are optional)
RUN_REQUIRED = ("prob", "mask", "run", "cracks", "summary")
#: GeoPackage layers of ``cracks``
SEGMENT_LAYER, NODE_LAYER, SUMMARY_LAYER = "crack_seg", "crack_node", "crack_sum"
#: the prefix of CSV tables written beside an HTML report (``<stem>_report_<table>.csv``)
REPORT_TABLE_INFIX = "_report_"

SURVEY_FILES: Dict[str, str] = {
    "cracks": "survey_cracks.gpkg",
    "summary": "survey_summary.json",
    "report": "survey_summary.html",
}
SURVEY_RUNS_DIR = "runs"
SURVEY_LAYER = "crack_seg"

CHANGE_FILES: Dict[str, str] = {
    "change": "change.gpkg",
    "summary": "change_summary.json",
    "report": "change_report.html",
    "report_pdf": "change_report.pdf",
}
CHANGE_LAYER = "crack_change"


@dataclass(frozen=True)
class RunLayout:
    """The files of one orthophoto's run in ``folder`` (see the module doc).

    Attributes:
        folder: the output folder.
        stem: the orthophoto's file stem shared by every file.
    """

    folder: Path
    stem: str

    @classmethod
    def for_input(cls, raster: PathLike, folder: PathLike) -> RunLayout:
        """The layout of a run of ``raster`` into ``folder``."""
        return cls(Path(folder), Path(str(raster)).stem)

    @classmethod
    def find(cls, folder: PathLike, stem: Optional[str] = None) -> RunLayout:
        """The run in ``folder`` (the only one, or the one of ``stem``).

        Raises:
            FileNotFoundError: no run (no ``*_cracks.gpkg`` or ``*_run.json``) or the named
                stem is absent.
            LookupError: several runs and no ``stem``.
        """
        folder = Path(folder)
        stems = cls.stems(folder)
        if stem is not None:
            if stem not in stems:
                raise FileNotFoundError(
                    f"{folder} holds no run of {stem!r} (runs there: {stems or 'none'})")
            return cls(folder, stem)
        if not stems:
            raise FileNotFoundError(f"{folder} holds no run (no <name>_run.json)")
        if len(stems) > 1:
            raise LookupError(f"{folder} holds several runs ({', '.join(stems)}): name one")
        return cls(folder, stems[0])

    @staticmethod
    def stems(folder: PathLike) -> List[str]:
        """Stems of the runs in ``folder`` (files ``<stem>_run.json`` or ``_cracks.gpkg``)."""
        folder = Path(folder)
        if not folder.is_dir():
            return []
        found: set = set()
        for role in ("run", "cracks"):
            suffix = RUN_FILES[role]
            found.update(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}")
                         if not p.name.startswith("."))
        return sorted(found)

    def path(self, role: str) -> Path:
        """The path of ``role`` (a key of :data:`RUN_FILES`)."""
        try:
            return self.folder / f"{self.stem}{RUN_FILES[role]}"
        except KeyError:
            raise KeyError(f"unknown run file role {role!r}; roles: {sorted(RUN_FILES)}") \
                from None

    def paths(self, roles: Iterable[str] = tuple(RUN_FILES)) -> Dict[str, Path]:
        """Paths of several roles."""
        return {r: self.path(r) for r in roles}

    def existing(self) -> Dict[str, Path]:
        """The roles whose files exist."""
        return {r: p for r, p in self.paths().items() if p.exists()}

    def report_tables(self) -> List[Path]:
        """The CSV tables written beside the HTML report."""
        return sorted(self.folder.glob(f"{self.stem}{REPORT_TABLE_INFIX}*.csv"))

    def is_complete(self) -> bool:
        """True when every required file of a finished run exists."""
        return all(self.path(r).is_file() for r in RUN_REQUIRED)

    @property
    def staging(self) -> Path:
        """The hidden folder a run of this stem stages its files in."""
        return self.folder / f".{self.stem}.staging"


@dataclass(frozen=True)
class SurveyLayout:
    """The files of a survey in ``folder`` (see the module doc)."""

    folder: Path

    def path(self, role: str) -> Path:
        """``cracks``, ``summary`` or ``report``."""
        return self.folder / SURVEY_FILES[role]

    def run(self, stem: str) -> RunLayout:
        """The run folder of the orthophoto ``stem``."""
        return RunLayout(self.folder / SURVEY_RUNS_DIR / stem, stem)

    @property
    def staging(self) -> Path:
        """The hidden folder the survey files are staged in before they are committed."""
        return self.folder / ".survey.staging"

    def runs(self) -> List[RunLayout]:
        """Every run folder present."""
        base = self.folder / SURVEY_RUNS_DIR
        if not base.is_dir():
            return []
        return [RunLayout(d, d.name) for d in sorted(base.iterdir()) if d.is_dir()]


@dataclass(frozen=True)
class ChangeLayout:
    """The files of a comparison of two inspections in ``folder``."""

    folder: Path

    def path(self, role: str) -> Path:
        """``change``, ``summary``, ``report`` or ``report_pdf``."""
        return self.folder / CHANGE_FILES[role]
