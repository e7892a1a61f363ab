"""Ingress benchmark: the real ingress beside a bare Starlette app, same body, one run."""
