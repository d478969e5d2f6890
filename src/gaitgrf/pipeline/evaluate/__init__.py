"""Stage `evaluate`: held-out metrics, statistics across conditions and architectures, the
report."""
