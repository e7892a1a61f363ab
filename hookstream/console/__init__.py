"""`hookstream console`: a small server-rendered web console over what the pipeline writes.

Overview (per page and per consumer group), search (the trace of a message, command or
conversation), dead letters (filter, inspect, redrive). Read-only pages are open without a key
only while the console listens on loopback; every action needs HOOKSTREAM_API_KEY and a
same-origin form token.
"""
