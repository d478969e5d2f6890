"""Reading and writing cohorts in the data contract's on-disk format.

`trial_file` holds the trial format, `cohort_store` writes cohorts, `loader` reads and validates
them (with `cohort_meta`, `trial_metadata` and `trial_reader`; the shared rules are in `checks`).
Nothing is imported here, so importing the package does no work.
"""
