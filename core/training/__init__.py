"""Training layer: the trainer and its configs, the frozen-stem cache, calibration-and-card writing,
shipping, fitting the out-of-scope check."""
