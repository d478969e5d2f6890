"""DVC stage entry points, one module per stage in dvc.yaml (`python -m stages.<name>`).

Each is a thin shell: read params.yaml, call the library (`gaitgrf`), write the stage's outputs,
and exit non-zero with one clear message when the library raises a `GaitGrfError`.
"""
