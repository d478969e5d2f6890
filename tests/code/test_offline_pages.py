"""Offline pages without a browser: the Data Docs rewrite, the plots page template, `plots`.

The rendering itself is checked in headless Chromium
(tests/integration/test_offline_pages_browser.py); here the rewrite is run on small pages shaped
like GX's templates, and on the copy step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gaitgrf.cli import app
from gaitgrf.offline import plots_page, web_assets
from gaitgrf.pipeline.validate.offline_docs import make_offline

GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com"
#: What a GX page loads (index_page.j2, js_script_imports.j2), with the same tags and attributes.
STYLESHEETS = [
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css",
]
SCRIPTS = [
    "https://cdn.jsdelivr.net/npm/vega@5",
    "https://cdn.jsdelivr.net/npm/vega-lite@5",
    "https://cdn.jsdelivr.net/npm/vega-embed@6",
    "https://code.jquery.com/jquery-3.7.1.min.js",
]
PINNED_SCRIPTS = [  # with subresource integrity, which a local copy of another build would fail
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js",
]
HEAD = (
    "".join(f'<link rel="stylesheet" href="{url}"/>\n' for url in STYLESHEETS)
    + "".join(f'<script src="{url}"></script>\n' for url in SCRIPTS)
    + "".join(
        f'<script src="{url}" integrity="sha384-x" crossorigin="anonymous"></script>\n'
        for url in PINNED_SCRIPTS
    )
    + f"<style>.navbar-brand a {{ background: url('{GX_IMAGES}/full_logo_dark.png'); }}</style>\n"
)
COLUMNS = [
    {"field": "ok", "title": "Status"},
    {"field": "run_time", "title": "Run <Time>", "sortName": "_sort"},
    {"field": "suite", "title": "Suite"},
]
DATA = [
    {
        "ok": '<i class="fas fa-check-circle"></i>',
        "run_time": "early",
        "_sort": 1.0,
        "suite": '<a href="expectations/a.html">a</a>',
        "_table_row_link_path": "validations/a.html",
    },
    {
        "ok": '<i class="fas fa-times"></i>',
        "run_time": "late",
        "_sort": 2.0,
        "suite": "b",
        "_table_row_link_path": "validations/b.html",
    },
]
OPTIONS = {"search": "true", "sortName": "run_time", "sortOrder": "desc"}
#: A bootstrap-table as GX's bootstrap_table.j2 writes it: Python literals, one per line.
TABLE = f"""<div id="t1-toolbar" class="ml-1">
    <button class="btn btn-sm ml-1" onclick="clearTableFilters('t1')">Clear Filters</button>
</div>
<table
  id="t1"
  class="table-sm"
  data-toggle="table"
>
</table>
<script>
  $('#t1').bootstrapTable(
    Object.assign(
      {{
        columns: {COLUMNS!r},
        data: {DATA!r},
        toolbar: '#t1-toolbar'
      }},
      {OPTIONS!r}
    )
  );
  $(document).ready(function() {{ $("#t1").on('click-row.bs.table', function() {{}}); }});
</script>
"""


def _site(root: Path, body: str = "", *, depth: int = 0) -> Path:
    """A GX-like site: static/images/logo-long.png and one page `depth` folders down."""
    (root / "static" / "images").mkdir(parents=True)
    (root / "static" / "images" / "logo-long.png").write_bytes(b"png")
    folder = root.joinpath(*[f"d{i}" for i in range(depth)])
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "page.html"
    logo = f'<img src="{GX_IMAGES}/logo-long.png?d=1"/>'
    page.write_text(f"<html><head>{HEAD}</head><body>{logo}{body}</body></html>")
    return page


def test_pages_load_local_copies_only(tmp_path: Path) -> None:
    page = _site(tmp_path / "docs", depth=2)
    make_offline(tmp_path / "docs")
    text = page.read_text()
    assert "http" not in text  # no CDN, no integrity hash pinned to another build
    up = "../.."
    assert text.count("<script src=") == 2  # jQuery, Bootstrap's bundle (Popper inside)
    for file in (
        "bootstrap/css/bootstrap.min.css",
        "bootstrap/js/bootstrap.bundle.min.js",
        "jquery/jquery.min.js",
        "font-awesome/css/all.min.css",
    ):
        assert f'"{up}/static/vendor/{file}"' in text
        assert (tmp_path / "docs" / "static" / "vendor" / file).is_file()
    assert (tmp_path / "docs/static/vendor/font-awesome/webfonts/fa-solid-900.woff2").is_file()
    assert f'src="{up}/static/images/logo-long.png"' in text
    assert f"url('{up}/static/images/logo-long.png')" in text
    assert not (tmp_path / "docs" / "static" / "vendor" / "vega").exists()  # no chart, no Vega


def test_a_page_with_charts_gets_the_vega_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_assets, "vega_bundle", lambda: "window.vegaEmbed = 1;")
    page = _site(tmp_path, "<script>vegaEmbed('#c', {});</script>")
    make_offline(tmp_path)
    text = page.read_text()
    assert text.count("static/vendor/vega/vega-embed.js") == 1 and "jsdelivr" not in text
    assert (tmp_path / "static/vendor/vega/vega-embed.js").read_text() == "window.vegaEmbed = 1;"


def test_bootstrap_tables_become_static_rows(tmp_path: Path) -> None:
    page = _site(tmp_path, TABLE)
    make_offline(tmp_path)
    text = page.read_text()
    assert "bootstrapTable(" not in text and "Clear Filters" not in text
    assert 'data-toggle="table"' not in text
    assert "<th>Status</th><th>Run &lt;Time&gt;</th><th>Suite</th>" in text
    rows = text.split("<tbody>")[1].split("</tbody>")[0].strip().splitlines()
    # Sorted as GX asks (run time, newest first); every cell links to the row's page unless
    # it holds a link of its own.
    assert [("late" in row, "validations/b.html" in row) for row in rows] == [
        (True, True),
        (False, False),
    ]
    assert '<a href="validations/a.html">early</a>' in rows[1]
    assert '<td><a href="expectations/a.html">a</a></td>' in rows[1]


def test_rewrite_is_idempotent_and_deterministic(tmp_path: Path) -> None:
    page = _site(tmp_path, TABLE)
    make_offline(tmp_path)
    first = page.read_text()
    make_offline(tmp_path)
    assert page.read_text() == first


def test_an_unknown_network_resource_is_refused(tmp_path: Path) -> None:
    page = _site(tmp_path)
    page.write_text('<script src="https://cdn.example.org/new-lib.js"></script>')
    with pytest.raises(RuntimeError, match=r"loads https://cdn.example.org/new-lib.js"):
        make_offline(tmp_path)


def test_a_missing_asset_package_names_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = web_assets.Library("xstatic.pkg.not_installed", ("x.js",))
    monkeypatch.setattr(web_assets, "LIBRARIES", {"jquery": missing})
    with pytest.raises(web_assets.MissingAssetError, match=r"xstatic\.pkg\.not_installed") as err:
        web_assets.copy_library("jquery", tmp_path)
    assert err.value.hint and "make setup" in err.value.hint


def test_plots_template_drops_dvc_cdn_scripts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_assets, "vega_bundle", lambda: "const spec = 1;")
    template = plots_page.write_offline_template(tmp_path, tmp_path / "out")
    text = template.read_text()
    assert "{plot_divs}" in text and "{scripts}" not in text and "http" not in text
    assert f'<script src="{plots_page.BUNDLE_FILE}"></script>' in text
    bundle = (tmp_path / "out" / plots_page.BUNDLE_FILE).read_text()
    # In a function scope: a top-level `const spec` would clash with DVC's `var spec`.
    assert bundle.startswith("(function () {") and "const spec = 1;" in bundle


def test_plots_command_runs_dvc_with_the_offline_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gaitgrf.cli.pipeline as cli_pipeline

    monkeypatch.setattr(web_assets, "vega_bundle", lambda: "")
    calls: list[list[str]] = []

    def fake_run_tool(command: list[str], what: str, hint: str) -> None:
        template = Path(command[command.index("--html-template") + 1])
        assert "{plot_divs}" in template.read_text()  # still there while DVC runs
        calls.append(command)

    monkeypatch.setattr(cli_pipeline, "run_tool", fake_run_tool)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["plots", "scores.csv", "--out", "page"])
    assert result.exit_code == 0, result.output
    (command,) = calls
    assert command[:4] == ["-m", "dvc", "plots", "show"]
    assert command[-3:] == ["-o", "page", "scores.csv"]
    assert (tmp_path / "page" / plots_page.BUNDLE_FILE).is_file()
    assert "opens offline" in result.output
