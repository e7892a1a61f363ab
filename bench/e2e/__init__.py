"""End to end: webhook -> Send API latency at an event rate, and memory over a soak."""
