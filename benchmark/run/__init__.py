"""Run: execute planned runs with the one training loop, under tracking."""
