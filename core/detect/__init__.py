"""Detection: an orthophoto -> georeferenced crack probability and mask rasters, in tiles.

``config`` (what a run is asked), ``inputs`` (region, GSD policy, normalised windows),
``engine`` (the pure per-tile step: tiles in, probabilities out; one blur kernel per raster),
``detect`` (the orchestration over the one tiler, writing the rasters block by block).
"""
