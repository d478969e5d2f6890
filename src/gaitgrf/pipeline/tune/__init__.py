"""Stage `tune`: one Optuna study per (architecture, condition), its refit and MLflow runs."""
