"""The networks of CSBSR: configuration, registry, blocks, SR and segmentation networks,
the joint model and model cards."""
