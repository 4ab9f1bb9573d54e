"""The Trace: what one forward pass showed, as numpy (`value`), its file (`file`),
and `capture`, which makes it.

Examples:
```python
from distil_explorer.trace import Trace, capture

trace = capture(backbone, "The cat sat.", tokenizer=tokenizer)
trace.save("t.npz"); Trace.load("t.npz")
```
"""

from distil_explorer.trace.capture import capture, encoded_inputs, tokens_and_inputs
from distil_explorer.trace.value import Trace

__all__ = ["Trace", "capture", "encoded_inputs", "tokens_and_inputs"]
