"""Surveys: many orthophotos, or huge ones, through the one run pipeline on Dask (``csbsr
survey``); see :mod:`.survey`."""
