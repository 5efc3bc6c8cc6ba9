"""Track: MLflow (the only place that imports it), provenance, the MLflow UI."""
