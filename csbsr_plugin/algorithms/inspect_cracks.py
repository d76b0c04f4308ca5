"""``csbsr:inspectcracks``: detection then measurement in one step (batch, ``qgis_process``).

Calls ``core.infer.detect`` then ``core.vectorize.vectorize_raster`` on its probability
raster with the same threshold; a cancel in either stage leaves no output file.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Dict, Optional

from ...core.progress import sub_progress
from ..feedback import FeedbackProgress
from . import detect_cracks as dc
from . import vectorize_cracks as vc
from .base import CsbsrAlgorithm


class InspectCracksAlgorithm(CsbsrAlgorithm):
    """Orthophoto -> crack rasters + measured crack lines and nodes."""

    def name(self) -> str:
        return "inspectcracks"

    def displayName(self) -> str:
        return self.tr("Inspect cracks (detect + vectorize + measure)")

    def shortHelpString(self) -> str:
        return self.tr(
            "The whole job on one orthophoto: runs 'Detect cracks' (probability, mask and "
            "optional super-resolved rasters in the output folder) and then 'Vectorize and "
            "measure cracks' on the probability raster with the same threshold (crack lines "
            "with length, width, type and severity; tip/junction nodes). Use it from the batch "
            "interface over many orthophotos, in models, or from the command line:\n"
            "qgis_process run csbsr:inspectcracks -- INPUT=ortho.tif OUTPUT_FOLDER=out "
            "OUTPUT_LINES=out/cracks.gpkg")

    def initAlgorithm(self, config: Optional[Dict[str, Any]] = None) -> None:
        dc.add_detect_parameters(self)
        vc.add_vectorize_parameters(self, with_threshold=False)
        dc.add_detect_outputs(self)
        vc.add_vectorize_outputs(self)

    def processAlgorithm(self, parameters: Dict[str, Any], context: Any,
                         feedback: Any) -> Dict[str, Any]:
        self.check_dependencies()
        from ...core.detect.detect import detect
        from ...core.vectorize.api import vectorize_raster

        layer = self.parameterAsRasterLayer(parameters, dc.INPUT, context)
        path = dc.raster_path(layer)
        crs = layer.crs()
        box, polygons = dc.resolve_area(self, parameters, context, feedback, layer)
        cfg = dc.inference_config(self, parameters, context, box)
        vectorize_config = vc.vectorize_config(self, parameters, context, threshold=0.5)
        out_dir = self.parameterAsString(parameters, dc.OUTPUT_FOLDER, context)
        progress = FeedbackProgress(feedback)
        res = self.call_core(detect, path, out_dir, cfg, sub_progress(progress, 0.0, 80.0))
        if res is None:
            feedback.reportError(self.tr("Cancelled: no output was written."), False)
            return {}
        feedback.pushInfo(f"detection: {res.n_tiles} tiles in {res.seconds:.1f} s on "
                          f"{res.device}")
        import dataclasses

        from ..areas import to_shapely

        vectorize_config = dataclasses.replace(vectorize_config, threshold=res.threshold)
        model = os.path.splitext(os.path.basename(str(cfg.model_path or "csbsr_lite_x4")))[0]
        network = self.call_core(vectorize_raster, res.prob_path, vectorize_config,
                                 sub_progress(progress, 80.0, 98.0), model_name=model,
                                 aoi=to_shapely(polygons))
        if network is None or feedback.isCanceled():
            for p in (res.prob_path, res.mask_path, res.sr_path, res.config_path):
                if p is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(p)
            feedback.reportError(self.tr("Cancelled: no output was written."), False)
            return {}
        results = vc.write_network(self, parameters, context, feedback, network, crs)
        # the summary JSON beside the rasters makes the folder a complete run (csbsr:crackreport)
        from ...core.vectorize.export import write_summary_json

        summary_path = self.call_core(
            write_summary_json, network,
            os.path.join(out_dir, f"{os.path.splitext(os.path.basename(path))[0]}_summary.json"),
            overwrite=cfg.overwrite)
        feedback.pushInfo(f"summary: {summary_path}")
        dc.load_detect_outputs(context, res)
        feedback.setProgress(100.0)
        return {dc.OUTPUT_FOLDER: out_dir, **dc.detect_results(res), **results}
