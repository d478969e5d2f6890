"""Local copies of the browser libraries that gaitgrf's HTML pages load, for machines offline.

Great Expectations' Data Docs load Bootstrap, jQuery and Font Awesome from CDNs, and DVC's plots
page loads Vega, Vega-Lite and Vega-Embed: on an analysis machine without internet (most clinics)
the pages came up unstyled, the Data Docs index empty and the charts blank. The libraries are taken
from Python packages that pyproject.toml declares (XStatic-Bootstrap, XStatic-jQuery,
XStatic-Font-Awesome, vl-convert-python) and copied next to a page when it is built: no
third-party file lives in this repository, and the install pins their versions like any other
dependency. Nothing here reaches the network.
"""

from __future__ import annotations

import importlib.resources
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from gaitgrf.core.errors import GaitGrfError


class MissingAssetError(GaitGrfError):
    """A package that holds a browser library is not installed: the install is incomplete."""

    hint = "reinstall the project: make setup (or pip install -e .)"


@dataclass(frozen=True)
class Library:
    """A browser library inside an installed Python package."""

    #: importable package whose `data/` folder holds the files (the XStatic layout)
    package: str
    #: the files a page needs, relative to that folder (kept in the copy)
    files: tuple[str, ...]


#: What a page may ask for, by name. Bootstrap's bundle carries Popper (its tooltips' dependency);
#: Font Awesome's stylesheet finds its fonts at ../webfonts/, hence the folder layout.
LIBRARIES: Final = MappingProxyType(
    {
        "bootstrap": Library(
            "xstatic.pkg.bootstrap", ("css/bootstrap.min.css", "js/bootstrap.bundle.min.js")
        ),
        "jquery": Library("xstatic.pkg.jquery", ("jquery.min.js",)),
        "font-awesome": Library(
            "xstatic.pkg.font_awesome",
            (
                "css/all.min.css",
                "webfonts/fa-solid-900.woff2",
                "webfonts/fa-regular-400.woff2",
                "webfonts/fa-brands-400.woff2",
                "webfonts/fa-v4compatibility.woff2",
                "LICENSE.txt",
            ),
        ),
    }
)

#: The Vega-Lite version of the Vega bundle: DVC's plot templates are Vega-Lite 5 specs.
VEGA_LITE_VERSION: Final = "5.21"
#: The bundle's entry: the three libraries as the globals DVC's and GX's inline scripts call.
_VEGA_GLOBALS: Final = (
    "window.vega = vega; window.vegaLite = vegaLite; window.vegaEmbed = vegaEmbed;"
)


def copy_library(name: str, dest: Path) -> Path:
    """Copy library `name` (a `LIBRARIES` key) into `dest/<name>/`, keeping its layout.

    Returns that folder. Raises `MissingAssetError` naming the package to install when it is
    missing (an install older than pyproject.toml).
    """
    library = LIBRARIES[name]
    try:
        source = importlib.resources.files(library.package) / "data"
    except ModuleNotFoundError as exc:
        raise MissingAssetError(
            f"{library.package} is not installed: {name} cannot be copied for offline pages"
        ) from exc
    folder = dest / name
    for relative in library.files:
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with importlib.resources.as_file(source / relative) as path:
            shutil.copyfile(path, target)
    return folder


def vega_bundle() -> str:
    """One script defining `vega`, `vegaLite` and `vegaEmbed` on `window` (vl-convert's bundle).

    vl-convert bundles the copies of the libraries inside its wheel, offline (~3 s, ~0.9 MB).
    """
    try:
        import vl_convert
    except ModuleNotFoundError as exc:
        raise MissingAssetError(
            "vl-convert-python is not installed: Vega cannot be bundled for offline pages"
        ) from exc
    return vl_convert.javascript_bundle(_VEGA_GLOBALS, vl_version=VEGA_LITE_VERSION)
