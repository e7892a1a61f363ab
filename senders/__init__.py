"""Outbound delivery to the Graph Send API: retries, rate limits, ledger."""
