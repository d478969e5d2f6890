"""Data Docs that render offline: local copies of the libraries, static index tables.

Great Expectations' pages load Bootstrap, jQuery, Font Awesome, bootstrap-table and Vega from
CDNs, and its index draws its tables in the browser with bootstrap-table: on a machine without
internet (most clinics' analysis machines) the index was unstyled and empty. After GX has built
the site, `make_offline` rewrites every page:

- each script and stylesheet it loads points to a copy under `static/vendor/`, copied from an
  installed Python package (`gaitgrf.offline.web_assets`), or is dropped where the page does
  without it (`_SOURCES` says why for each); GX's logo comes from the images it ships in
  `static/images/`, and links to those images are made relative to each page (GX's favicon link
  misses a level);
- the index's bootstrap-table tables (no Python package ships bootstrap-table) become plain HTML
  rows, sorted as GX asks, each cell linking to the row's page. Search, filters and paging are
  gone; a validation site of a few runs needs none.

A resource this table does not know raises, naming page and URL: a new GX template that loads
something new must be looked at, not silently left loading from the network. The rewrite is a
pure function of GX's output, so the site stays byte-identical across re-runs.
"""

from __future__ import annotations

import ast
import html
import os
import re
from pathlib import Path
from typing import Any, Final

from gaitgrf.offline import web_assets

VENDOR_DIR: Final = "static/vendor"
IMAGES_DIR: Final = "static/images"

#: URL prefix of each resource GX's templates load -> the local file, relative to
#: `VENDOR_DIR` (its first part names the `web_assets` library), or None: dropped.
_SOURCES: Final[tuple[tuple[str, str | None], ...]] = (
    ("https://maxcdn.bootstrapcdn.com/bootstrap/", "bootstrap/css/bootstrap.min.css"),
    ("https://stackpath.bootstrapcdn.com/bootstrap/", "bootstrap/js/bootstrap.bundle.min.js"),
    ("https://cdnjs.cloudflare.com/ajax/libs/popper.js/", None),  # inside Bootstrap's bundle
    ("https://code.jquery.com/jquery-", "jquery/jquery.min.js"),
    ("https://cdnjs.cloudflare.com/ajax/libs/font-awesome/", "font-awesome/css/all.min.css"),
    ("https://unpkg.com/bootstrap-table@", None),  # its tables are made static
    ("https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/", None),  # its date filter
    ("https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@", None),  # dark theme: light only
    # Vega draws the charts of some expectations; one bundle holds all three (only if needed).
    ("https://cdn.jsdelivr.net/npm/vega@", "vega/vega-embed.js"),
    ("https://cdn.jsdelivr.net/npm/vega-lite@", None),
    ("https://cdn.jsdelivr.net/npm/vega-embed@", None),
)
#: GX's logos on its web server -> the image it copies into `static/images/`.
_GX_IMAGES: Final = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
_LOGOS: Final = {"logo-long.png": "logo-long.png", "full_logo_dark.png": "logo-long.png"}

_SCRIPT = re.compile(r'<script\b[^>]*?\bsrc="(https?://[^"]+)"[^>]*>\s*</script>[ \t]*\n?')
_LINK = re.compile(r'<link\b[^>]*?\bhref="(https?://[^"]+)"[^>]*>[ \t]*\n?')
_IMAGE_URL = re.compile(
    r"""(?P<head>\bsrc="|\burl\(['"]?)""" + re.escape(_GX_IMAGES) + r"""(?P<name>[\w.-]+)[^"')]*"""
)
#: GX's own relative links to its images, one "../" short on validation pages (the favicon).
_LOCAL_IMAGE = re.compile(r'(?P<head>\b(?:src|href)=")(?:\.\.?/)*static/images/(?P<name>[\w.-]+)"')
#: A bootstrap-table: the empty <table> and the script that fills it (GX's bootstrap_table.j2,
#: whose columns, data and options are Python literals, one per line).
_TABLE = re.compile(r'(<table\s+id="(?P<id>[\w-]+)"[^>]*?)\s*data-toggle="table"\s*>\s*</table>')
_TABLE_SCRIPT = re.compile(
    r"<script>\s*\$\('#(?P<id>[\w-]+)'\)\.bootstrapTable\(\s*Object\.assign\(\s*\{\s*"
    r"columns: (?P<columns>[^\n]*),\n\s*data: (?P<data>[^\n]*),\n\s*toolbar: [^\n]*\n\s*\},\n"
    r"\s*(?P<options>[^\n]*)\n.*?</script>\s*",
    re.S,
)
_CLEAR_FILTERS = re.compile(
    r'\s*<button [^>]*onclick="clearTableFilters\([^)]*\)"[^>]*>[^<]*</button>'
)


def make_offline(docs_dir: Path) -> None:
    """Rewrite the site under `docs_dir` to load nothing from the network (module docstring)."""
    needed: set[str] = set()
    for page in sorted([*docs_dir.rglob("*.html"), *docs_dir.rglob("*.css")]):
        if _is_vendored(page, docs_dir):
            continue
        text = page.read_text(encoding="utf-8")
        root = Path(os.path.relpath(docs_dir, page.parent)).as_posix()
        fixed = _localise(text, page, root, docs_dir, needed)
        if page.suffix == ".html":
            fixed = _static_tables(fixed, page)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")
    vendor = docs_dir / VENDOR_DIR
    for name in sorted({file.split("/")[0] for file in needed}):
        if name == "vega":
            (vendor / "vega").mkdir(parents=True, exist_ok=True)
            (vendor / "vega" / "vega-embed.js").write_text(web_assets.vega_bundle())
        else:
            web_assets.copy_library(name, vendor)


def _is_vendored(path: Path, docs_dir: Path) -> bool:
    return (docs_dir / VENDOR_DIR) in path.parents


def _localise(text: str, page: Path, root: str, docs_dir: Path, needed: set[str]) -> str:
    """Point scripts, stylesheets and GX's logos at local files; drop what the page does without."""
    charts = "vegaEmbed(" in text

    def local(url: str) -> str | None:
        for prefix, file in _SOURCES:
            if url.startswith(prefix):
                if file is None or (file.startswith("vega/") and not charts):
                    return None
                needed.add(file)
                return f"{root}/{VENDOR_DIR}/{file}"
        raise RuntimeError(
            f"Data Docs page {page}: loads {url} from the network, and gaitgrf has no offline "
            "copy of it (gaitgrf/pipeline/validate/offline_docs.py)"
        )

    def script(match: re.Match[str]) -> str:
        path = local(match.group(1))
        return f'<script src="{path}"></script>\n' if path else ""

    def link(match: re.Match[str]) -> str:
        path = local(match.group(1))
        return f'<link rel="stylesheet" href="{path}"/>\n' if path else ""

    def image(match: re.Match[str]) -> str:
        name = _LOGOS.get(match["name"], match["name"])
        if not (docs_dir / IMAGES_DIR / name).is_file():
            raise RuntimeError(f"Data Docs page {page}: no local copy of GX image {match['name']}")
        return f"{match['head']}{root}/{IMAGES_DIR}/{name}"

    text = _IMAGE_URL.sub(image, _LINK.sub(link, _SCRIPT.sub(script, text)))
    return _LOCAL_IMAGE.sub(rf'\g<head>{root}/{IMAGES_DIR}/\g<name>"', text)


def _static_tables(text: str, page: Path) -> str:
    """Each bootstrap-table of the page as plain HTML rows; its script and filter buttons go."""
    tables: dict[str, str] = {}

    def take(match: re.Match[str]) -> str:
        try:
            columns, data, options = (
                ast.literal_eval(match[part]) for part in ("columns", "data", "options")
            )
        except (ValueError, SyntaxError) as exc:
            raise RuntimeError(f"Data Docs page {page}: unreadable table {match['id']}") from exc
        tables[match["id"]] = _rows_html(columns, data, options)
        return ""

    text = _TABLE_SCRIPT.sub(take, text)

    def fill(match: re.Match[str]) -> str:
        if match["id"] not in tables:
            raise RuntimeError(f"Data Docs page {page}: table {match['id']} without its data")
        return f"{match.group(1)}>\n{tables.pop(match['id'])}</table>"

    text = _CLEAR_FILTERS.sub("", _TABLE.sub(fill, text))
    if tables:
        raise RuntimeError(f"Data Docs page {page}: data for missing tables {sorted(tables)}")
    return text


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers before text, each in its own order (bootstrap-table sorts a column's values)."""
    if isinstance(value, int | float):
        return (0, float(value), "")
    return (1, 0.0, "" if value is None else str(value))


def _rows_html(
    columns: list[dict[str, Any]], data: list[dict[str, Any]], options: dict[str, Any]
) -> str:
    """thead and tbody of one table, in bootstrap-table's sort order; cells keep GX's HTML."""
    sort_field = options.get("sortName")
    column = next((c for c in columns if c["field"] == sort_field), None)
    if column is not None:
        key = column.get("sortName", column["field"])
        data = sorted(data, key=lambda row: _sort_key(row.get(key)))
        if options.get("sortOrder") == "desc":
            data.reverse()
    head = "".join(f"<th>{html.escape(str(c.get('title', c['field'])))}</th>" for c in columns)
    lines = [f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for row in data:
        link = row.get("_table_row_link_path")
        cells = []
        for c in columns:
            cell = str(row.get(c["field"], ""))
            if link and "<a " not in cell:  # the row's page, as a click on the row opened it
                cell = f'<a href="{html.escape(link)}">{cell}</a>'
            cells.append(f"<td>{cell}</td>")
        lines.append(f"<tr>{''.join(cells)}</tr>")
    lines.append("</tbody>")
    return "\n".join(lines) + "\n"
