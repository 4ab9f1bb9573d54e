"""Where a model runs: backends, devices, and worker processes.

`backends` says what is installed and which devices each backend sees,
`runner.Runner` captures on any of them, `process` manages the worker
processes that other backends run in, and `worker` is what runs inside them.
"""
