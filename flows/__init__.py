"""Prefect flows that orchestrate the pipeline; they arrive with the data stages."""
