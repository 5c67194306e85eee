"""A self-contained HTML document: opens in any browser with no server and no network.

Shared by the run file (app/html_export.py) and the leaderboard report (app/html_leaderboard.py).
Text becomes markup only through html.escape; data for a page's script travels as JSON that no
text can break out of (embed_json); a Content Security Policy allows no request at all and runs
only the page's own script, by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from importlib import metadata
from typing import Any

from app.svg_charts import CHART_CSS

NONE = "'none'"

BASE_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1400px;
       padding: 16px 24px; color: #222; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 22px 0 8px; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; margin: 0; color: #444; }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
table { border-collapse: collapse; font-size: 13px; } th, td { border: 1px solid #ddd; padding: 4px 8px;
  text-align: left; vertical-align: top; } th { background: #f5f5f5; }
td { white-space: pre-wrap; overflow-wrap: anywhere; max-width: 420px; }
pre.text { white-space: pre-wrap; overflow-wrap: anywhere; font: 13px/1.45 ui-monospace, monospace;
  background: #f7f7f7; padding: 8px; border-radius: 4px; margin: 4px 0; max-height: 420px; overflow: auto; }
.muted { color: #777; } .error { color: #b00020; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
"""


def app_version() -> str:
    try:
        return metadata.version("budget-arena")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def text_html(value: object) -> str:
    """`value` as HTML text (None as nothing)."""
    return escape("" if value is None else str(value), quote=False)


def attr_html(value: object) -> str:
    """`value` inside a double-quoted HTML attribute."""
    return escape(str(value), quote=True)


def embed_json(data: Any) -> str:
    """JSON safe inside <script type="application/json">: no `<` (so no `</script>` or `<!--`), no
    `>` or `&`, and no U+2028/U+2029 (line terminators to older JavaScript parsers)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: let JSON's \\u escapes carry it
        text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


def page(title: str, body: str, *, script: str = "", data: Any = None, css: str = "") -> str:
    """A whole self-contained HTML document. The Content Security Policy forbids every request (no
    default source, images only as data: URLs) and runs only `script`, allowed by its hash."""
    style = BASE_CSS + CHART_CSS + css
    policy = (f"default-src 'none'; style-src {csp_hash(style)}; img-src data:; "
              f"script-src {csp_hash(script) if script else NONE}; "
              "base-uri 'none'; form-action 'none'")
    data_block = (f'<script type="application/json" id="run-data">{embed_json(data)}</script>'
                  if data is not None else "")
    script_block = f"<script>{script}</script>" if script else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{attr_html(policy)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"<title>{text_html(title)}</title><style>{style}</style></head>"
            f"<body>{body}{data_block}{script_block}</body></html>\n")
