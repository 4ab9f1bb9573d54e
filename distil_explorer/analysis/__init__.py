"""Plain numpy analysis: arrays (or a Trace) in, arrays out. Never imports keras."""
