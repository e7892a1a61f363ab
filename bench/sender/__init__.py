"""Benchmark of the sender against the Send API sandbox (`python -m bench.sender`)."""
