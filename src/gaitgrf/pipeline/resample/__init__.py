"""Stage `resample`: filtering, a common rate, gait events and stance/window samples."""
