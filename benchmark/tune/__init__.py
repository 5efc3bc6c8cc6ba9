"""Tune: Optuna studies (the only place that imports optuna)."""
