"""Training and evaluation: data (manifests, samples, negative bank), crops and degradation
(``sampler``, ``degrade``), losses, the staged trainer (``trainer``, ``schedule``,
``checkpoint``), and evaluation (pixel metrics in ``metrics``/``evaluate``; line metrics and
false-positive density as a field engineer meets them in ``fieldeval``).
"""
