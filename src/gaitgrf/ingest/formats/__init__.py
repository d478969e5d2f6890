"""Readers of lab formats (C3D, OpenSim, CSV/Parquet) into one in-memory recording."""
