"""The web UI's front-end assets are vendored from npm, intact, and nothing loads from a CDN."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "vendor_assets.py"
WEB_DIR = ROOT / "src" / "productops" / "web"
VENDOR_DIR = WEB_DIR / "static" / "vendor"

# Files that may hold HTML or reference other resources: templates, static files, and Python
# modules that build HTML inline.
SCANNED_SUFFIXES = {
    ".html",
    ".htm",
    ".jinja",
    ".jinja2",
    ".j2",
    ".xml",
    ".svg",
    ".css",
    ".js",
    ".mjs",
    ".py",
}
# <script ... src="https://..."> / <link ... href="//...">, quoted or not, any case, across
# line breaks; protocol-relative URLs count too. Also CSS @import of a remote URL.
REMOTE_SOURCE = re.compile(
    r"""<script\b[^>]*?\bsrc\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|<link\b[^>]*?\bhref\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|@import\s+(?:url\(\s*)?["']?\s*(?:https?:)?//""",
    re.IGNORECASE,
)


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vendor_assets", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("vendor_assets", module)
    spec.loader.exec_module(module)
    return module


vendor_assets = _load_script()


def remote_references(root: Path) -> list[str]:
    found: list[str] = []
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in SCANNED_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in REMOTE_SOURCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(root)}:{line}: {match.group(0)[:120]!r}")
    return found


def test_vendored_assets_match_manifest() -> None:
    assert vendor_assets.check(VENDOR_DIR) == []


def test_manifest_matches_package_lock() -> None:
    assert vendor_assets.check_lock(VENDOR_DIR, ROOT / "package-lock.json") == []


def test_expected_assets_are_vendored() -> None:
    for name in (
        "htmx.min.js",
        "pico.min.css",
        "vega.min.js",
        "vega-lite.min.js",
        "vega-embed.min.js",
        "ASSETS.json",
    ):
        assert (VENDOR_DIR / name).is_file(), name
    licenses = sorted(p.name for p in (VENDOR_DIR / "licenses").iterdir())
    assert len(licenses) == len(vendor_assets.ASSETS), licenses


def test_check_reports_tampered_missing_and_extra_files(tmp_path: Path) -> None:
    copy = tmp_path / "vendor"
    shutil.copytree(VENDOR_DIR, copy)
    with (copy / "htmx.min.js").open("ab") as fh:
        fh.write(b"\n// tampered\n")
    (copy / "vega.min.js").unlink()
    (copy / "extra.js").write_text("alert(1)\n")

    problems = vendor_assets.check(copy)

    assert any(p.startswith("htmx.min.js: sha256 mismatch") for p in problems), problems
    assert any(p.startswith("vega.min.js: missing") for p in problems), problems
    assert any(p.startswith("extra.js: extra file") for p in problems), problems
    assert len(problems) == 3, problems


def test_check_reports_missing_manifest(tmp_path: Path) -> None:
    problems = vendor_assets.check(tmp_path)
    assert len(problems) == 1
    assert "manifest missing" in problems[0]


def test_no_remote_script_or_stylesheet_sources() -> None:
    assert remote_references(WEB_DIR) == []


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="https://unpkg.com/htmx.org"></script>',
        "<SCRIPT defer\n  src='http://cdn.example/x.js'></SCRIPT>",
        '<link rel="stylesheet" href="https://cdn.example/pico.min.css">',
        '<link\n rel="stylesheet"\n href=//cdn.example/pico.css>',
        '@import url("https://fonts.example/css");',
    ],
)
def test_remote_reference_scan_catches(tmp_path: Path, snippet: str) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "base.html").write_text(f"<html>\n{snippet}\n</html>\n")
    assert len(remote_references(tmp_path)) == 1


def test_remote_reference_scan_allows_local_sources(tmp_path: Path) -> None:
    (tmp_path / "base.html").write_text(
        '<script src="/static/vendor/htmx.min.js"></script>\n'
        "<link rel=\"stylesheet\" href=\"{{ url_for('static', path='vendor/pico.min.css') }}\">\n"
        '<a href="https://example.com/docs">docs</a>\n'
    )
    assert remote_references(tmp_path) == []
