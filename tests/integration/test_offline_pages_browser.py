"""The Data Docs and DVC's plots page render in a browser that cannot reach the network.

Most clinics' analysis machines are offline: the pages used to load Bootstrap, jQuery, Font
Awesome and Vega from CDNs and came up unstyled, with an empty Data Docs index and a blank bar
chart. Headless Chromium (tests/support/browser.py, every request blocked) loads the pages as
gaitgrf builds them and the DOM must show what only a rendered page has.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gaitgrf.core.config import ContractConfig, SynthConfig, ValidateConfig
from gaitgrf.pipeline.validate.run import validate_cohorts
from gaitgrf.synth import generate_cohort
from tests.support.browser import dump_dom, probe
from tests.support.projects import dvc, gaitgrf, git

pytestmark = pytest.mark.integration

_RENDERED = """
var nav = document.querySelector('nav.navbar');
var icons = Array.from(document.fonts).filter(function (f) {
  return f.family.indexOf('Font Awesome') >= 0 && f.status === 'loaded';
});
return {
  jquery: typeof window.jQuery,
  tabs: window.jQuery ? typeof window.jQuery.fn.tab : 'missing',
  navbar: getComputedStyle(nav).display,
  icon_fonts: icons.length,
  links: Array.from(document.querySelectorAll('table tbody a')).map(function (a) {
    return a.getAttribute('href');
  })
};
"""


def test_data_docs_render_offline(tmp_path: Path) -> None:
    cfg = SynthConfig(
        cohort_id="t", subjects=3, walking_trials=1, static_trials=1, trial_duration_s=4.0
    )
    generate_cohort(cfg, tmp_path / "raw" / cfg.cohort_id)
    summary = validate_cohorts(
        tmp_path / "raw",
        tmp_path / "validated",
        tmp_path / "reports",
        ContractConfig(),
        ValidateConfig(),
    )
    dom, seen = probe(summary.data_docs, _RENDERED)
    # jQuery and Bootstrap's plugins ran, Bootstrap's stylesheet laid out the navbar, the icon
    # font (the index's only pass/fail sign) loaded: all from the local copies.
    assert seen["jquery"] == "function" and seen["tabs"] == "function"
    assert seen["navbar"] == "flex"
    assert seen["icon_fonts"] >= 1
    # The index lists both validation results (and both suites), each row linking to its page.
    results = {link for link in seen["links"] if link.startswith("validations/")}
    assert {link.split("/")[1] for link in results} == {"subjects", "trials"}
    assert {"expectations/subjects.html", "expectations/trials.html"} <= set(seen["links"])
    assert "fa-check-circle" in dom

    # A validation result page: styled, its collapsible sections driven by Bootstrap's script.
    page = tmp_path / "reports" / "data_docs" / sorted(results)[0]
    _, seen = probe(page, _RENDERED)
    assert seen["navbar"] == "flex" and seen["tabs"] == "function" and seen["icon_fonts"] >= 1


def test_plots_page_renders_offline(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q")
    git(project, "config", "user.email", "test@example.org")
    git(project, "config", "user.name", "test")
    dvc(project, "init", "-q")
    (project / "scores.csv").write_text("model,rrmse_mean\nlstm,12.5\ncnn1d,15.1\ngru,9.7\n")
    (project / "dvc.yaml").write_text(
        "plots:\n  - scores.csv:\n      template: bar_horizontal\n      x: rrmse_mean\n"
        "      y: model\n"
    )
    out = gaitgrf(project, "plots", "--out", "offline_plots")
    page = project / "offline_plots" / "index.html"
    assert "opens offline" in out and page.is_file()
    assert "cdn.jsdelivr.net" not in page.read_text()

    dom = dump_dom(page)
    # vega-embed ran on the plot's div and Vega drew the chart as SVG: one bar per model.
    div = re.search(r'<div id="scores_csv" class="vega-embed[^"]*">(.*)', dom, re.S)
    assert div, dom[-2000:]
    assert re.search(r'<svg[^>]*class="marks"', div.group(1))
    for model in ("lstm", "cnn1d", "gru"):
        assert f">{model}<" in div.group(1)
