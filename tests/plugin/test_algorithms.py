"""Every algorithm through Processing on real GeoTIFFs with a tiny model; batch; cancel."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

FP32 = 1  # PRECISION enum index of "fp32": CPU bf16 flattens a random model's output


def _field_names() -> list:
    from csbsr.core.records import FIELDS

    return [f[0] for f in FIELDS]


def _raster(path: str):
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(str(path), Path(path).stem, "gdal")
    assert layer.isValid(), path
    return layer


def _vector(path: str):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "v", "ogr")
    assert layer.isValid(), path
    return layer


def _run(alg_id: str, params: dict, feedback=None):
    """Run an algorithm the way the toolbox does; return (results, ok)."""
    from qgis.core import (
        QgsApplication,
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProject,
    )

    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = feedback or QgsProcessingFeedback()
    results, ok = alg.run(params, context, feedback)
    return results, ok, context


@pytest.mark.parametrize("ext", ["gpkg", pytest.param("shp", marks=pytest.mark.slow),
                                 pytest.param("memory", marks=pytest.mark.slow)])
def test_vectorize_writes_measured_lines_in_every_format(provider, synthetic_prob: Path,
                                                         tmp_path: Path, ext: str) -> None:
    import processing

    out = "memory:" if ext == "memory" else str(tmp_path / f"cracks.{ext}")
    nodes = "memory:" if ext == "memory" else str(tmp_path / f"nodes.{ext}")
    context_results = processing.run("csbsr:vectorizecracks", {
        "INPUT": str(synthetic_prob), "VEC_THRESHOLD": 0.5, "STANDARD": 1,
        "ROAD_AZIMUTH": 90.0, "OUTPUT_LINES": out, "OUTPUT_NODES": nodes})
    lines = context_results["OUTPUT_LINES"]
    # processing.run hands memory outputs back as layer objects, files as paths
    layer = lines if ext == "memory" else _vector(lines)
    assert [n for n in layer.fields().names() if n != "fid"] == _field_names()
    assert layer.crs().authid() == "EPSG:32633"
    feats = list(layer.getFeatures())
    assert len(feats) >= 2
    total = sum(f["len_m"] for f in feats)
    # 0.6 m + 0.4 m drawn; tips are extended by the half-width, the T-junction splits one
    assert total == pytest.approx(1.0, abs=0.05)
    assert context_results["TOTAL_LENGTH_M"] == pytest.approx(total, rel=1e-6)
    assert {f["sev_std"] for f in feats} == {"LTPP"}
    assert {f["ctype"] for f in feats} <= {"long", "trans", "diag"}
    widths = sorted(round(f["w_med_mm"]) for f in feats if f["w_med_mm"] is not None)
    assert widths and 8 <= widths[0] <= 16  # 5 px and 7 px at 2 mm/px


def test_vectorize_lengths_follow_the_ellipsoid(provider, synthetic_prob: Path) -> None:
    import processing

    grid = processing.run("csbsr:vectorizecracks", {
        "INPUT": str(synthetic_prob), "LENGTHS": 1, "OUTPUT_LINES": "memory:"})
    ell = processing.run("csbsr:vectorizecracks", {
        "INPUT": str(synthetic_prob), "LENGTHS": 0, "OUTPUT_LINES": "memory:"},
        context=_ellipsoid_context("EPSG:7030"))
    # UTM scale factor 0.9996 at the central meridian: ellipsoidal = grid / 0.9996
    assert ell["TOTAL_LENGTH_M"] == pytest.approx(grid["TOTAL_LENGTH_M"] / 0.9996, rel=2e-4)
    assert ell["TOTAL_LENGTH_M"] != grid["TOTAL_LENGTH_M"]


def _ellipsoid_context(ellipsoid: str):
    from qgis.core import QgsProcessingContext, QgsProject

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    context.setEllipsoid(ellipsoid)
    return context


def test_detect_on_a_real_crop(provider, tiny_model: Path, real_crop: Path,
                               tmp_path: Path) -> None:
    results, ok, _ = _run("csbsr:detectcracks", {
        "INPUT": str(real_crop), "MODEL": str(tiny_model), "DEVICE": 1, "PRECISION": FP32,
        "SAVE_SR": True, "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert ok
    src = _raster(str(real_crop))
    for key in ("PROB", "MASK", "SR"):
        layer = _raster(results[key])
        assert layer.crs() == src.crs()
        assert layer.width() == 4 * src.width() and layer.height() == 4 * src.height()
        assert layer.extent().contains(src.extent().buffered(-0.01))
    assert _raster(results["SR"]).bandCount() >= 3  # RGB (+ alpha from the internal mask)
    assert results["DEVICE_USED"].startswith("CPU")
    assert Path(results["RUN_JSON"]).is_file()


def test_detect_respects_the_aoi_polygon(provider, tiny_model: Path, real_crop: Path,
                                         tmp_path: Path) -> None:
    from qgis.core import QgsFeature, QgsGeometry, QgsRectangle, QgsVectorLayer

    src = _raster(str(real_crop))
    e = src.extent()
    box = QgsRectangle(e.xMinimum(), e.yMinimum(), e.center().x(), e.center().y())
    aoi = QgsVectorLayer(f"Polygon?crs={src.crs().authid()}", "aoi", "memory")
    feat = QgsFeature()
    feat.setGeometry(QgsGeometry.fromRect(box))
    aoi.dataProvider().addFeatures([feat])
    results, ok, _ = _run("csbsr:detectcracks", {
        "INPUT": str(real_crop), "MODEL": str(tiny_model), "PRECISION": FP32, "AOI": aoi,
        "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert ok
    prob = _raster(results["PROB"])
    assert prob.width() == pytest.approx(4 * src.width() / 2, abs=4)
    assert prob.extent().xMinimum() == pytest.approx(e.xMinimum(), abs=0.2)


def test_inspect_on_a_real_orthophoto(provider, tiny_model: Path, real_ortho: Path,
                                      tmp_path: Path) -> None:
    results, ok, _ = _run("csbsr:inspectcracks", {
        "INPUT": str(real_ortho), "MODEL": str(tiny_model), "PRECISION": FP32,
        "OUTPUT_FOLDER": str(tmp_path / "out"),
        "OUTPUT_LINES": str(tmp_path / "out" / "cracks.gpkg"),
        "OUTPUT_NODES": str(tmp_path / "out" / "nodes.gpkg")})
    assert ok
    lines = _vector(results["OUTPUT_LINES"])
    src = _raster(str(real_ortho))
    assert lines.crs() == src.crs() == _raster(results["PROB"]).crs()
    assert lines.fields().names()[1:] == _field_names()  # GPKG adds fid first
    feats = list(lines.getFeatures())
    assert len(feats) == results["N_SEGMENTS"] > 0
    assert all(f["model_ver"] == "tiny" for f in feats)
    assert all(f["len_m"] > 0 for f in feats)
    assert lines.extent().intersects(src.extent())
    assert _vector(results["OUTPUT_NODES"]).featureCount() > 0


@pytest.mark.slow
def test_inspect_on_the_sample_orthophoto(provider, tiny_model: Path, sample_ortho: Path,
                                          tmp_path: Path) -> None:
    src = _raster(str(sample_ortho))
    e = src.extent()  # a 96 x 96 px window keeps the test fast
    x0, y0 = e.xMinimum() + 64 * src.rasterUnitsPerPixelX(), e.yMinimum() + 64 * \
        src.rasterUnitsPerPixelY()
    size = 96 * src.rasterUnitsPerPixelX()
    extent = f"{x0},{x0 + size},{y0},{y0 + size} [{src.crs().authid()}]"
    results, ok, _ = _run("csbsr:inspectcracks", {
        "INPUT": str(sample_ortho), "MODEL": str(tiny_model), "PRECISION": FP32,
        "EXTENT": extent, "OUTPUT_FOLDER": str(tmp_path),
        "OUTPUT_LINES": str(tmp_path / "cracks.gpkg")})
    assert ok
    assert _vector(results["OUTPUT_LINES"]).crs() == src.crs()
    mask = _raster(results["MASK"])
    assert mask.crs() == src.crs()
    assert mask.width() == 4 * 96


@pytest.mark.slow
def test_batch_of_two_rasters_into_one_folder(provider, tiny_model: Path, real_ortho: Path,
                                              real_crop: Path, tmp_path: Path) -> None:
    """What the toolbox batch interface does: one algorithm, one run per row."""
    out = tmp_path / "batch"
    rows = [real_ortho, real_crop]
    results = []
    for raster in rows:
        res, ok, _ = _run("csbsr:inspectcracks", {
            "INPUT": str(raster), "MODEL": str(tiny_model), "PRECISION": FP32,
            "OUTPUT_FOLDER": str(out), "OUTPUT_LINES": str(out / f"{raster.stem}_lines.shp")})
        assert ok
        results.append(res)
    assert len({r["PROB"] for r in results}) == 2
    for raster, res in zip(rows, results):
        assert Path(res["PROB"]).name == f"{raster.stem}_prob.tif"
        assert _vector(res["OUTPUT_LINES"]).crs() == _raster(str(raster)).crs()


def test_existing_outputs_are_not_overwritten(provider, tiny_model: Path, real_ortho: Path,
                                              tmp_path: Path) -> None:
    from qgis.core import QgsProcessingException

    params = {"INPUT": str(real_ortho), "MODEL": str(tiny_model), "PRECISION": FP32,
              "OUTPUT_FOLDER": str(tmp_path)}
    _, ok, _ = _run("csbsr:detectcracks", params)
    assert ok
    with pytest.raises(QgsProcessingException, match="Replace existing outputs"):
        import processing

        processing.run("csbsr:detectcracks", params)
    _, ok, _ = _run("csbsr:detectcracks", {**params, "OVERWRITE": True})
    assert ok


@pytest.mark.parametrize("alg_id", ["csbsr:detectcracks", "csbsr:inspectcracks"])
def test_cancel_leaves_no_output_files(provider, tiny_model: Path, real_crop: Path,
                                       tmp_path: Path, alg_id: str) -> None:
    from qgis.core import QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    seen = []

    def cancel_once_started(percent: float) -> None:
        seen.append(percent)
        if percent > 0:
            feedback.cancel()

    feedback.progressChanged.connect(cancel_once_started)
    out = tmp_path / "out"
    results, _ok, _ = _run(alg_id, {
        "INPUT": str(real_crop), "MODEL": str(tiny_model), "PRECISION": FP32, "TILE_PX": 32,
        "OUTPUT_FOLDER": str(out), "OUTPUT_LINES": str(out / "lines.gpkg")}, feedback)
    assert seen and feedback.isCanceled()
    assert not results
    leftovers = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert leftovers == []


def test_vectorize_cancel_creates_no_sink_file(provider, synthetic_prob: Path,
                                               tmp_path: Path) -> None:
    from qgis.core import QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    feedback.cancel()
    results, _ok, _ = _run("csbsr:vectorizecracks", {
        "INPUT": str(synthetic_prob), "OUTPUT_LINES": str(tmp_path / "l.gpkg")}, feedback)
    assert not results
    assert list(tmp_path.iterdir()) == []


def test_bad_model_file_is_a_processing_error(provider, real_crop: Path, tmp_path: Path) -> None:
    import processing
    from qgis.core import QgsProcessingException

    bad = tmp_path / "m.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(QgsProcessingException, match="card"):
        processing.run("csbsr:detectcracks", {"INPUT": str(real_crop), "MODEL": str(bad),
                                              "OUTPUT_FOLDER": str(tmp_path / "o")})


def test_detect_then_vectorize_in_a_model(provider, tiny_model: Path, real_ortho: Path,
                                          tmp_path: Path) -> None:
    """The graphical modeler's view: detect's PROB output feeds vectorize's INPUT."""
    import processing
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterFile,
        QgsProcessingParameterRasterLayer,
    )

    src = QgsProcessingModelChildParameterSource
    model = QgsProcessingModelAlgorithm("cracks", "test")
    model.addModelParameter(QgsProcessingParameterRasterLayer("ortho", "ortho"),
                            QgsProcessingModelParameter("ortho"))
    model.addModelParameter(QgsProcessingParameterFile("net", "net"),
                            QgsProcessingModelParameter("net"))
    detect = QgsProcessingModelChildAlgorithm("csbsr:detectcracks")
    detect.setChildId("detect")
    detect.addParameterSources("INPUT", [src.fromModelParameter("ortho")])
    detect.addParameterSources("MODEL", [src.fromModelParameter("net")])
    detect.addParameterSources("PRECISION", [src.fromStaticValue(FP32)])
    detect.addParameterSources("OUTPUT_FOLDER", [src.fromStaticValue(str(tmp_path / "d"))])
    vec = QgsProcessingModelChildAlgorithm("csbsr:vectorizecracks")
    vec.setChildId("vec")
    vec.addParameterSources("INPUT", [src.fromChildOutput("detect", "PROB")])
    out = QgsProcessingModelOutput("lines")
    out.setChildId("vec")
    out.setChildOutputName("OUTPUT_LINES")
    vec.setModelOutputs({"lines": out})
    vec.setDependencies([])
    for child in (detect, vec):  # what the modeler dialog does: defaults as static values
        for param in child.algorithm().parameterDefinitions():
            if param.name() not in child.parameterSources() and not param.isDestination() \
                    and param.defaultValue() is not None:
                child.addParameterSources(param.name(), [src.fromStaticValue(
                    param.defaultValue())])
        model.addChildAlgorithm(child)  # the model keeps a copy
    ok, errors = model.validate()
    assert ok, errors
    results = processing.run(model, {"ortho": str(real_ortho), "net": str(tiny_model),
                                     "vec:lines": str(tmp_path / "lines.gpkg")})
    lines = _vector(results["vec:lines"])
    assert lines.featureCount() > 0
    assert lines.crs() == _raster(str(real_ortho)).crs()
    assert (tmp_path / "d" / f"{real_ortho.stem}_prob.tif").is_file()


def test_batch_without_load_layers_queues_nothing(provider, tiny_model: Path, real_crop: Path,
                                                  tmp_path: Path) -> None:
    """The batch dialog's "Load layers on completion" unticked: sinks get no project, and the
    run's rasters follow them (they used to load anyway)."""
    from qgis.core import QgsProcessingOutputLayerDefinition

    out = tmp_path / "out"
    results, ok, context = _run("csbsr:inspectcracks", {
        "INPUT": str(real_crop), "MODEL": str(tiny_model), "PRECISION": FP32,
        "OUTPUT_FOLDER": str(out),
        "OUTPUT_LINES": QgsProcessingOutputLayerDefinition(str(out / "l.gpkg"), None)})
    assert ok and Path(results["OUTPUT_LINES"]).is_file()
    assert context.layersToLoadOnCompletion() == {}
    # the output folder is a complete run folder: the report needs nothing else
    assert Path(results["SUMMARY_JSON"]).is_file() and Path(results["REPORT_HTML"]).is_file()


def test_a_too_coarse_orthophoto_is_refused_in_qgis_words(provider, shared_ortho: Path,
                                                          tmp_path: Path) -> None:
    """150 mm/px against the shipped model's 8 mm/px: the engine refuses before any work and
    the message names the QGIS parameter, not the command-line flag."""
    import processing
    from qgis.core import QgsProcessingException

    ortho = shared_ortho / "usgs_hro_colorado_201404_13SED190110_15cm.tif"
    with pytest.raises(QgsProcessingException) as err:
        processing.run("csbsr:detectcracks", {"INPUT": str(ortho),
                                              "OUTPUT_FOLDER": str(tmp_path / "o")})
    text = str(err.value)
    assert "too coarse" in text and "Keep the orthophoto's own resolution" in text
    assert "--gsd-policy" not in text
    assert not (tmp_path / "o").exists()
