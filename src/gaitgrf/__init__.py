"""gaitgrf: predict 3D walking ground reaction forces from wearable sensors.

A DVC + Prefect + Optuna + MLflow pipeline around one library: the data contract
(`gaitgrf.core.contract`), cohort I/O (`gaitgrf.io`), the synthetic cohort (`gaitgrf.synth`) and the
command line (`gaitgrf.cli`). Importing the package loads nothing heavy.
"""

__version__ = "0.1.0"
