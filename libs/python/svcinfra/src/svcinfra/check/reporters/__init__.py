"""How a report is printed: text for people, JSON for scripts, SARIF for code-scanning UIs."""

from ._json import render_json
from ._sarif import SCHEMA_URI, render_sarif, sarif_schema
from ._text import render_text

__all__ = ["SCHEMA_URI", "render_json", "render_sarif", "render_text", "sarif_schema"]
