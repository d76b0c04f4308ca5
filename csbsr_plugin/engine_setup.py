"""Create the engine's own Python environment, with the user's consent (dock: "Set up
engine...").

Steps, each logged to ``<env>-setup.log`` beside the environment: ``python -m venv <env>``
with a Python of this machine (never ``sys.executable`` on Windows or macOS, where it is the
QGIS binary), ``pip install -r requirements/engine.lock.txt`` (the pinned engine dependencies
shipped with the plugin), a ``.pth`` file that puts this plugin's folder (the ``csbsr``
package: the engine code and the shipped model) on the environment's path, and a ``csbsr``
launcher. Then ``csbsr --version`` checks it and the Processing setting "CSBSR engine" points
at it.

Nothing is installed into QGIS's own Python.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from . import engine
from .paths import ROOT

LOCK_FILE = ROOT / "requirements" / "engine.lock.txt"
LAUNCHER = """#!{python}
# The CSBSR engine of this environment (written by the CSBSR QGIS plugin).
import sys

from csbsr.core.cli import main

sys.exit(main())
"""


def base_python() -> Optional[str]:
    """A Python interpreter to create the environment with (None when none is found)."""
    names: List[Path] = []
    if sys.platform.startswith("win"):
        names += [Path(sys.exec_prefix) / "python.exe", Path(sys.base_prefix) / "python.exe"]
    elif sys.platform == "darwin":
        names += [Path(sys.exec_prefix) / "bin" / "python3",
                  Path(sys.base_prefix) / "bin" / "python3"]
    else:
        if Path(sys.executable).name.startswith("python"):
            names.append(Path(sys.executable))
        names.append(Path("/usr/bin/python3"))
    found = shutil.which("python3")
    if found and not sys.platform.startswith(("win", "darwin")):
        names.append(Path(found))
    for p in names:
        if p.is_file() and os.access(str(p), os.X_OK):
            return str(p)
    return None


def plan(env_dir: Path, lock: Path = LOCK_FILE) -> str:
    """What the set-up will do, for the consent dialog."""
    return (f"CSBSR runs its model in a Python environment of its own (QGIS's Python stays "
            f"untouched). This will:\n\n"
            f"1. create the environment {env_dir} with {base_python() or 'python3'};\n"
            f"2. download and install the pinned packages of {lock.name} (PyTorch, rasterio, "
            f"scikit-image...) from the Python Package Index: about 1-3 GB, 5-20 minutes;\n"
            f"3. point the Processing setting 'CSBSR engine' at it.\n\n"
            f"A log is kept in {log_path(env_dir)}. Continue?")


def log_path(env_dir: Path) -> Path:
    """The set-up log (beside the environment, which ``venv --clear`` empties)."""
    return env_dir.with_name(env_dir.name + "-setup.log")


def _site_packages(python: str) -> Path:
    out = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                          "['purelib'])"], capture_output=True, text=True, timeout=60,
                         env=engine.engine_environment())
    return Path(out.stdout.strip())


def link_plugin(env_dir: Path, python: str) -> Path:
    """Make ``import csbsr`` in the environment load this plugin's folder; return the .pth."""
    if ROOT.name == "csbsr":
        parent = ROOT.parent
    else:  # a checkout under another name: a link named csbsr inside the environment
        parent = env_dir / "csbsr-plugin"
        parent.mkdir(exist_ok=True)
        link = parent / "csbsr"
        if not link.exists():
            link.symlink_to(ROOT, target_is_directory=True)
    pth = _site_packages(python) / "csbsr_qgis_plugin.pth"
    pth.write_text(str(parent) + "\n", encoding="utf-8")
    return pth


def write_launcher(env_dir: Path) -> str:
    """The engine executable of the environment (a ``csbsr`` script; ``python.exe`` on
    Windows, which the runner starts with ``-m csbsr.core.cli``)."""
    python = engine.venv_executable(env_dir, "python")
    if sys.platform.startswith("win"):
        return str(python)
    launcher = engine.venv_executable(env_dir, "csbsr")
    launcher.write_text(LAUNCHER.format(python=python), encoding="utf-8")
    launcher.chmod(0o755)
    return str(launcher)


def setup_engine(env_dir: Path, lock: Path = LOCK_FILE,
                 log: Callable[[str], None] = print,
                 progress: Callable[[float], None] = lambda p: None,
                 cancelled: Callable[[], bool] = lambda: False) -> str:
    """Create the environment (see the module doc); return its engine executable.

    Raises:
        RuntimeError: a step failed (the message names it; the log has the details).
    """
    python = base_python()
    if python is None:
        raise RuntimeError("no Python interpreter found to create the environment with: "
                           "install Python 3 (3.9 or newer) and try again")
    if not lock.is_file():
        raise RuntimeError(f"{lock} is missing from the plugin: reinstall the plugin")
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    steps = [([python, "-m", "venv", "--clear", str(env_dir)], "creating the environment", 10.0),
             ([str(engine.venv_executable(env_dir, "python")), "-m", "pip", "install",
               "--disable-pip-version-check", "--no-input", "-r", str(lock)],
              "installing the engine's packages", 90.0)]
    for cmd, what, done in steps:
        log(f"== {what}: {' '.join(cmd)}")
        _run(cmd, log, cancelled)
        progress(done)
    venv_python = str(engine.venv_executable(env_dir, "python"))
    log(f"== linking the plugin's engine code: {link_plugin(env_dir, venv_python)}")
    exe = write_launcher(env_dir)
    version = engine.engine_version(exe)
    if not version.startswith("csbsr"):
        raise RuntimeError(f"the new engine {exe} does not start (csbsr --version said "
                           f"{version!r}): see the log")
    log(f"== done: {exe} ({version})")
    progress(100.0)
    return exe


def _run(cmd: List[str], log: Callable[[str], None], cancelled: Callable[[], bool]) -> None:
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", stdin=subprocess.DEVNULL,
                          env=engine.engine_environment()) as proc:
        for line in iter(proc.stdout.readline, ""):  # type: ignore[union-attr]
            log(line.rstrip())
            if cancelled():
                proc.terminate()
                proc.wait()
                raise RuntimeError("cancelled by the user")
    if proc.returncode != 0:
        raise RuntimeError(f"'{' '.join(cmd[:4])}...' failed (exit code {proc.returncode}): "
                           "see the log")


class EngineSetupTask(QgsTask):
    """:func:`setup_engine` as a background task; ``line`` carries each log line."""

    line = pyqtSignal(str)

    def __init__(self, env_dir: Path, lock: Path = LOCK_FILE) -> None:
        super().__init__("Setting up the CSBSR engine", QgsTask.CanCancel)
        self.env_dir, self.lock = Path(env_dir), Path(lock)
        self.engine: Optional[str] = None
        self.error = ""

    def run(self) -> bool:
        self.env_dir.parent.mkdir(parents=True, exist_ok=True)
        path = log_path(self.env_dir)
        with open(path, "a", encoding="utf-8") as fh:
            def log(text: str) -> None:
                fh.write(text + "\n")
                fh.flush()
                self.line.emit(text)

            log(f"# CSBSR engine set-up {time.strftime('%Y-%m-%d %H:%M:%S')}")
            try:
                self.engine = setup_engine(self.env_dir, self.lock, log, self.setProgress,
                                           self.isCanceled)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                self.error = f"{exc} (log: {path})"
                log(f"== failed: {exc}")
                return False
        return True
