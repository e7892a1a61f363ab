"""Benchmark of the analytics sink (`python -m bench.sink`)."""
