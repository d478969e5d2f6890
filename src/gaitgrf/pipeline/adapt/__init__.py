"""Adapting a trained model to real cohorts (fine-tuning), judged subject-wise."""
