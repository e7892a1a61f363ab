"""The data contracts of hookstream: envelopes, messages, commands, analytics rows, DDL."""
