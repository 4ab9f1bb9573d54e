"""Where a model runs: backends, devices, and (later) worker processes."""
