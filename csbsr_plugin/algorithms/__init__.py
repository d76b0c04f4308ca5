"""Processing algorithms: one file each, each an adapter around one ``core`` call."""
