"""Vectorization: crack probability/mask rasters -> measured crack centre-lines.

``clean`` (mask), ``graph`` (skeleton graph and pruning, with skan), ``centerline`` (smoothing,
widths, tips), ``window`` (the pure per-tile step), ``stitch`` (joining pieces across tiles),
``network`` (nodes, cells, measurement, classification), ``measure`` (metric geometry,
widths, severity), ``api`` (rasters and arrays in, :class:`~csbsr.core.records.CrackNetwork`
out), ``export`` (GeoPackage, Shapefile, CSV, JSON), ``synthetic`` (ground truth for tests).
"""
