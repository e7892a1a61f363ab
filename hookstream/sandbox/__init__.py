"""A local stand-in for Meta's Send API (`hookstream sandbox`), for development and tests."""
