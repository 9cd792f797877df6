"""Sign into a running productops server and save a screenshot of one page (for the README).

    .venv/bin/python scripts/screenshot.py --url http://127.0.0.1:8000 \\
        --email admin@example.com --password '...' --out docs/images/home.png --path /accounts

Uses Debian's chromium through Playwright (Playwright's own browsers are not needed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--url", required=True, help="base URL of the server, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument("--email", required=True, help="user to sign in as")
    parser.add_argument("--password", required=True, help="that user's password")
    parser.add_argument(
        "--out", type=Path, default=Path("docs/images/home.png"), help="PNG to write"
    )
    parser.add_argument("--path", default="/", help="page to capture, e.g. /accounts (default: /)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width (default: 1280)")
    parser.add_argument("--height", type=int, default=900, help="viewport height (default: 900)")
    parser.add_argument(
        "--chromium", default=CHROMIUM, help=f"browser binary (default: {CHROMIUM})"
    )
    return parser.parse_args(argv)


def capture(args: argparse.Namespace) -> Path:
    base = args.url.rstrip("/") + "/"
    path = args.path if args.path.startswith("/") else "/" + args.path
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": args.width, "height": args.height})
            page = context.new_page()
            page.goto(urljoin(base, "login"))
            page.fill("#email", args.email)
            page.fill("#password", args.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state("networkidle")
            if urlsplit(page.url).path == "/login":
                alert = page.get_by_role("alert")
                reason = alert.inner_text() if alert.count() else "still on the sign-in page"
                raise SystemExit(f"sign-in failed: {reason.strip()}")
            page.goto(urljoin(base, path.lstrip("/")), wait_until="networkidle")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
        finally:
            browser.close()
    return Path(args.out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        out = capture(args)
    except PlaywrightError as exc:
        print(f"screenshot failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
