"""CSBSR crack inspection: QGIS plugin entry point.

The repository root is the plugin package. ``classFactory`` must not touch the GUI or import
torch, so that ``qgis_process`` and a QGIS without torch can still load the plugin.
"""


def classFactory(iface):
    """Return the plugin instance QGIS asks for."""
    from .csbsr_plugin.plugin import CsbsrPlugin

    return CsbsrPlugin(iface)
