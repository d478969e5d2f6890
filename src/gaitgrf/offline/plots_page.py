"""DVC's plots page, offline: `dvc plots show` with Vega beside the page instead of on a CDN.

`dvc plots show` writes `dvc_plots/index.html`, which loads vega, vega-lite and vega-embed from
jsdelivr: offline, its charts (the evaluation's bar chart of scores.csv) stay blank. DVC accepts
an HTML template (`--html-template`) that must hold `{plot_divs}`; a template without DVC's
`{scripts}` placeholder leaves out those CDN tags, and ours loads the Vega bundle that
vl-convert-python makes from the copies inside its wheel (`web_assets.vega_bundle`), written
next to the page. The images DVC copies into `<out>/static/` need nothing more. `gaitgrf plots`
runs this; the page shows the same plots as `dvc plots show`, online or not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from gaitgrf.offline import web_assets

#: The Vega bundle's file name, beside the page's index.html.
BUNDLE_FILE: Final = "vega-embed.js"

# DVC fills the placeholders with str.replace; {scripts} (its CDN tags) is left out on purpose.
_TEMPLATE: Final = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    <title>gaitgrf plots</title>
    <script src="__BUNDLE__"></script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def write_offline_template(template_dir: Path, out: Path) -> Path:
    """The template for `dvc plots show --html-template`, and the Vega bundle in `out/`.

    Returns the template's path (in `template_dir`). The bundle runs in a function scope of its
    own: its top-level names cannot clash with the `var spec` of DVC's inline scripts.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / BUNDLE_FILE).write_text(f"(function () {{\n{web_assets.vega_bundle()}\n}})();\n")
    template = template_dir / "gaitgrf-plots-offline.html"
    template.write_text(_TEMPLATE.replace("__BUNDLE__", BUNDLE_FILE))
    return template
