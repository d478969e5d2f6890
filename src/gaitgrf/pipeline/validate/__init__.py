"""Stage `validate`: per-trial metrics, Great Expectations suites, quarantine and the validated
copy."""
