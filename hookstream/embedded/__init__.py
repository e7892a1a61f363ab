"""The embedded stack: a Tansu broker and the services as child processes, for one machine."""
