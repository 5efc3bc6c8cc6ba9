"""Perf: cost and throughput benchmarks (commands, not timed tests)."""
