"""The Starlette ingress: Meta webhook verification and intake, proactive sends, health, metrics."""
