"""The DVC stages in pipeline order: inventory, validate, resample, fuse, tune, evaluate,
promote."""
