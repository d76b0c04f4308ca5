"""``csbsr_plugin.gdal_aux``: a raster opened by QGIS in the block leaves no ``.aux.xml``
beside it; outside the block QGIS writes one (so the test can fail)."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "sample" / "sample_ortho.tif"


def _open_and_close(path: Path) -> None:
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(str(path), "ortho", "gdal")
    assert layer.isValid()
    del layer


def test_no_aux_file_inside_the_block_and_one_outside(qgis_app, tmp_path: Path) -> None:
    from csbsr.csbsr_plugin.gdal_aux import no_aux_files

    inside, outside = tmp_path / "inside.tif", tmp_path / "outside.tif"
    shutil.copy(SAMPLE, inside)
    shutil.copy(SAMPLE, outside)
    with no_aux_files():
        _open_and_close(inside)
    _open_and_close(outside)
    assert not Path(f"{inside}.aux.xml").exists()
    assert Path(f"{outside}.aux.xml").exists()  # QGIS's own behaviour outside the block


def test_off_for_qgis_process_only_for_a_csbsr_algorithm(qgis_app, tmp_path: Path) -> None:
    from csbsr.csbsr_plugin.gdal_aux import off_for_qgis_process

    assert not off_for_qgis_process(["/usr/bin/qgis", "--nologo"])
    assert not off_for_qgis_process(["/usr/bin/qgis_process.bin", "run", "native:buffer"])
    result = {}

    def in_a_thread() -> None:  # the setting is thread-local: keep it out of the test thread
        result["on"] = off_for_qgis_process(
            ["C:/OSGeo4W/bin/qgis_process.exe", "run", "csbsr:inspectcracks", "--", "INPUT=a"])
        path = tmp_path / "a.tif"
        shutil.copy(SAMPLE, path)
        _open_and_close(path)
        result["aux"] = Path(f"{path}.aux.xml").exists()

    t = threading.Thread(target=in_a_thread)
    t.start()
    t.join()
    assert result == {"on": True, "aux": False}
