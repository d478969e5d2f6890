"""Stage `fuse`: model inputs plus subject-specific features, one file per condition."""
