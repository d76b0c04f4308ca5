"""The QGIS side of CSBSR: Processing provider, algorithms, dock panel (thin layer over core)."""
