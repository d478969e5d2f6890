"""Reading and writing cohorts in the data contract's on-disk format.

`trial_file` holds the trial format, `cohort_store` writes cohorts, `loader` reads and validates
them. Nothing is imported here, so importing the package does no work.
"""
