"""What the explorer does, with no widget: `Session` and the requests it takes.

`requests` holds the values (what to build, timings, comparisons), `inputs`
reads what a person typed, `building` builds what a request names, `compare`
answers the Compare tab, and `workflows` is the `Session` that builds, runs,
intervenes and compares through them.

Examples:
```python
from distil_explorer.session import BuildRequest, Session

session = Session()
session.build(BuildRequest("all_minilm_l6_v2_en"))
trace = session.run("The cat sat on the mat.")
```
"""

from distil_explorer.session.requests import (
    BuildRequest,
    Comparison,
    PrecisionComparison,
    Timings,
    parse_token_ids,
)
from distil_explorer.session.workflows import Session

__all__ = [
    "BuildRequest",
    "Comparison",
    "PrecisionComparison",
    "Session",
    "Timings",
    "parse_token_ids",
]
