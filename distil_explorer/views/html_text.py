"""Strings made safe for HTML: the one escaping helper every panel uses.

Everything a person, a file or a preset supplies (texts, second texts,
paths, token strings from a vocabulary, class and preset names, error
messages) is shown through `text` in element content and attribute values,
and data embedded in a `<script>` goes through `json_for_script`. A token
such as `<!--<script>` or `</script>` then stays a string: it cannot end a
script early nor put the parser into its "double-escaped" script state,
which swallows the rest of a page.
"""

from __future__ import annotations

import html
import json
from typing import Any

# Escaped inside script data: "<" and ">" (tags, "<!--", "-->"), "&" (for
# pages served as XHTML), and U+2028/U+2029 (line ends in older JS parsers).
_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def text(value: Any) -> str:
    """`value` as HTML text: `& < > " '` escaped, safe in content and quoted attributes.

    Examples:
    ```python
    text("<b>x</b> & 'y'")  # '&lt;b&gt;x&lt;/b&gt; &amp; &#x27;y&#x27;'
    ```
    """
    return html.escape(str(value), quote=True)


def json_for_script(value: Any) -> str:
    """`value` as JSON that can sit inside `<script>` as it is, never ending it.

    Every `<`, `>` and `&`, and U+2028/U+2029, is written as a `\\uXXXX`
    escape, which JSON and JavaScript read back as the same character.

    Examples:
    ```python
    json_for_script({"token": "</script>"})  # '{"token": "\\u003c/script\\u003e"}'
    ```
    """
    return json.dumps(value, ensure_ascii=False).translate(_SCRIPT_ESCAPES)
