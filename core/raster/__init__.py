"""Raster I/O and the one tiler: opening and describing rasters, GSD, padded windowed reads,
block-by-block GeoTIFF writing (``io``), tile geometry with ``rasterio.windows`` (``tiling``).
"""
