"""Models layer: the registry, networks, model cards, weights files, calibration maps, scoring and Grad-CAM."""
