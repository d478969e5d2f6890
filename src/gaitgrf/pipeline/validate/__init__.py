"""Stage `validate`: per-trial metrics, Great Expectations suites, quarantine and the validated
copy.

`run` is the stage function; `trial_metrics` measures, `checks` is the catalogue of checks, `gx`
runs them in Great Expectations, `report` writes the report and `staging` the validated copy.
"""
