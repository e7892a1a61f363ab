"""faust-streaming processors: per-conversation processing, state, replies, analytics facts."""
