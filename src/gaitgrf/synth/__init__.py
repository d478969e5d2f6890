"""The embedded synthetic cohort: physically consistent walking trials.

See docs/synthetic-cohort.md.
"""

from gaitgrf.synth.cohort import GENERATOR_VERSION, generate_cohort

__all__ = ["GENERATOR_VERSION", "generate_cohort"]
