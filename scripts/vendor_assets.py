"""Vendor the web UI's front-end assets from npm packages into the Python package.

The browser never loads anything from a CDN: htmx, Pico CSS and Vega(-Lite/-Embed) are
installed from the npm registry at the exact versions pinned in ``package.json`` /
``package-lock.json``, and the needed minified files plus each package's licence are copied
into ``src/productops/web/static/vendor/``. ``ASSETS.json`` beside them records, for every
copied file, where it came from (package, version, path inside the package, the lock file's
``resolved`` URL and ``integrity``), its licence and the sha256 of the copied bytes.

Usage (from the repository root)::

    .venv/bin/python scripts/vendor_assets.py           # (re)vendor; runs `npm ci` if needed
    .venv/bin/python scripts/vendor_assets.py --check   # verify vendored files, no npm needed

To upgrade: edit the pinned versions in package.json, run `npm install`, then this script,
and commit package.json, package-lock.json and the vendor folder together.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
PACKAGE_LOCK = ROOT / "package-lock.json"
VENDOR_DIR = ROOT / "src" / "productops" / "web" / "static" / "vendor"
MANIFEST_NAME = "ASSETS.json"
LICENSES_SUBDIR = "licenses"

# package name -> {vendored file name: path inside the package}
ASSETS: dict[str, dict[str, str]] = {
    "htmx.org": {"htmx.min.js": "dist/htmx.min.js"},
    "@picocss/pico": {"pico.min.css": "css/pico.min.css"},
    "vega": {"vega.min.js": "build/vega.min.js"},
    "vega-lite": {"vega-lite.min.js": "build/vega-lite.min.js"},
    "vega-embed": {"vega-embed.min.js": "build/vega-embed.min.js"},
    "swagger-ui-dist": {
        "swagger-ui-bundle.js": "swagger-ui-bundle.js",
        "swagger-ui.css": "swagger-ui.css",
    },
}

LICENSE_CANDIDATES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "license", "LICENCE")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def license_file_name(package: str) -> str:
    """``@picocss/pico`` -> ``licenses/picocss-pico.LICENSE`` (POSIX style, manifest key)."""
    safe = package.lstrip("@").replace("/", "-")
    return f"{LICENSES_SUBDIR}/{safe}.LICENSE"


def registry_path(package: str, version: str, resolved: str | None = None) -> str:
    """The package tarball's path relative to the npm registry, e.g. ``vega/-/vega-6.4.0.tgz``.

    The lock file may omit ``resolved`` (npm's ``omit-lockfile-registry-resolved``); when it
    has one, only the path from the package name on is kept, so no registry host is recorded.
    """
    if resolved:
        path = urlsplit(resolved).path
        marker = f"{package}/-/"
        if marker in path:
            return path[path.index(marker) :]
    return f"{package}/-/{package.rsplit('/', 1)[-1]}-{version}.tgz"


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- check


def check(vendor_dir: Path) -> list[str]:
    """Verify ``vendor_dir`` against its ``ASSETS.json``.

    Needs neither npm nor node_modules. Returns a list of problems (empty means good):
    a missing or unreadable manifest, a listed file that is missing or whose sha256
    differs, or a file in the folder that the manifest does not list.
    """
    vendor_dir = Path(vendor_dir)
    manifest_path = vendor_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        return [f"{manifest_path}: manifest missing (run scripts/vendor_assets.py)"]
    try:
        manifest = _load_json(manifest_path)
        files = manifest["files"]
        if not isinstance(files, dict) or not files:
            raise ValueError("'files' must be a non-empty object")
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{manifest_path}: unreadable manifest: {exc}"]

    problems: list[str] = []
    for name in sorted(files):
        entry = files[name]
        path = vendor_dir / name
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            problems.append(f"{name}: manifest entry has no sha256")
            continue
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            problems.append(f"{name}: sha256 mismatch (manifest {entry['sha256']}, file {actual})")

    for path in sorted(p for p in vendor_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(vendor_dir).as_posix()
        if rel != MANIFEST_NAME and rel not in files:
            problems.append(f"{rel}: extra file not listed in {MANIFEST_NAME}")
    return problems


def check_lock(vendor_dir: Path, lock_path: Path) -> list[str]:
    """Verify that ASSETS.json was made from the packages pinned in ``package-lock.json``."""
    manifest_path = Path(vendor_dir) / MANIFEST_NAME
    if not manifest_path.is_file() or not Path(lock_path).is_file():
        return [f"{manifest_path} or {lock_path} missing"]
    files = _load_json(manifest_path).get("files", {})
    lock_packages = _load_json(lock_path).get("packages", {})
    problems: list[str] = []
    for name, entry in sorted(files.items()):
        locked = lock_packages.get(f"node_modules/{entry.get('package')}")
        if locked is None:
            problems.append(f"{name}: package {entry.get('package')!r} not in {lock_path.name}")
            continue
        expected = {
            "version": locked.get("version"),
            "integrity": locked.get("integrity"),
            "resolved": registry_path(
                str(entry.get("package")), str(locked.get("version")), locked.get("resolved")
            ),
        }
        for key, value in expected.items():
            if entry.get(key) != value:
                problems.append(
                    f"{name}: {key} {entry.get(key)!r} differs from {lock_path.name} "
                    f"({value!r}); re-run scripts/vendor_assets.py"
                )
    for package in ASSETS:
        if not any(e.get("package") == package for e in files.values()):
            problems.append(f"{package}: not vendored")
    return problems


# --------------------------------------------------------------------------- vendor


def _installed_matches_lock(lock_packages: dict[str, Any]) -> bool:
    for package in ASSETS:
        pkg_json = NODE_MODULES / package / "package.json"
        locked = lock_packages.get(f"node_modules/{package}", {})
        if not pkg_json.is_file() or _load_json(pkg_json).get("version") != locked.get("version"):
            return False
    return True


def ensure_node_modules(lock_packages: dict[str, Any]) -> None:
    if NODE_MODULES.is_dir() and _installed_matches_lock(lock_packages):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: install Node.js/npm (e.g. `apt-get install npm`)")
    print("running npm ci ...", file=sys.stderr)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    if not _installed_matches_lock(lock_packages):
        raise SystemExit("node_modules still does not match package-lock.json after npm ci")


def _find_license(package_dir: Path) -> Path:
    for candidate in LICENSE_CANDIDATES:
        path = package_dir / candidate
        if path.is_file():
            return path
    raise SystemExit(f"no LICENSE file found in {package_dir}")


def vendor(vendor_dir: Path = VENDOR_DIR) -> dict[str, Any]:
    if not PACKAGE_LOCK.is_file():
        raise SystemExit(f"{PACKAGE_LOCK} missing: run `npm install` first")
    lock_packages: dict[str, Any] = _load_json(PACKAGE_LOCK)["packages"]
    ensure_node_modules(lock_packages)

    # (vendored name, package, path inside the package)
    plan: list[tuple[str, str, str]] = []
    for package, files in ASSETS.items():
        for dest, source in files.items():
            plan.append((dest, package, source))
        license_path = _find_license(NODE_MODULES / package)
        plan.append((license_file_name(package), package, license_path.name))

    entries: dict[str, dict[str, str]] = {}
    for dest, package, source in plan:
        package_dir = NODE_MODULES / package
        locked = lock_packages[f"node_modules/{package}"]
        pkg_json = _load_json(package_dir / "package.json")
        src = package_dir / source
        if not src.is_file():
            raise SystemExit(f"{package}@{pkg_json['version']}: {source} not found")
        target = vendor_dir / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        entries[dest] = {
            "package": package,
            "version": locked["version"],
            "source": source,
            "resolved": registry_path(package, locked["version"], locked.get("resolved")),
            "integrity": locked["integrity"],
            "sha256": sha256_file(target),
            "license": pkg_json.get("license") or locked.get("license", "UNKNOWN"),
        }

    # Remove files left over from an earlier vendoring (e.g. a dropped package).
    for path in sorted(vendor_dir.rglob("*"), reverse=True):
        rel = path.relative_to(vendor_dir).as_posix()
        if path.is_file() and rel != MANIFEST_NAME and rel not in entries:
            print(f"removing stale {rel}", file=sys.stderr)
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()

    manifest = {
        "comment": (
            "Generated by scripts/vendor_assets.py from package-lock.json; do not edit. "
            "Verify with `python scripts/vendor_assets.py --check`. "
            "'resolved' is the package tarball's path relative to the npm registry."
        ),
        "files": dict(sorted(entries.items())),
    }
    (vendor_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="verify the vendored files against ASSETS.json (and package-lock.json) only",
    )
    parser.add_argument("--vendor-dir", type=Path, default=VENDOR_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.check:
        problems = check(args.vendor_dir)
        if not problems and PACKAGE_LOCK.is_file():
            problems = check_lock(args.vendor_dir, PACKAGE_LOCK)
        for problem in problems:
            print(f"vendored assets: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(f"vendored assets OK ({args.vendor_dir})")
        return 0

    manifest = vendor(args.vendor_dir)
    for name, entry in manifest["files"].items():
        size = (args.vendor_dir / name).stat().st_size
        source = f"{entry['package']}@{entry['version']}"
        print(f"{name:32} {source:24} {size:>9} bytes")
    problems = check(args.vendor_dir)
    for problem in problems:
        print(f"vendored assets: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
