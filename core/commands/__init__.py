"""Sub-commands of the ``csbsr`` command line, one module each (see ``core/cli.py``)."""
