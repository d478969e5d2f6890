"""DVC stage entry points, one module per stage in dvc.yaml (`python -m stages.<name>`).

Each is a few lines over one shell (`stages/shell.py`): read params.yaml, call the library
(`gaitgrf`), print the summary lines the library composes, and exit non-zero with one clear
message when the library raises a `GaitGrfError`.
"""
