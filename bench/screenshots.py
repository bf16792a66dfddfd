"""Screenshots of the web page for the docs: ``python bench/screenshots.py``.

Starts ``zincfluor serve`` on the shipped model (``models/emission8-default``; another with
``--model``) with a throwaway embedded database, makes an API key, and drives Debian's Chromium
(``/usr/bin/chromium``, through Playwright, 1280 x 900) through the page:

- ``sign-in.png``: the start page before signing in;
- ``predict.png``: a pasted molecule's prediction, with the molecule editor open;
- ``screen.png``: ``examples/demo.smi`` uploaded, screened and ranked;
- ``molecule.png``: the top-ranked molecule's page.

They are written to ``docs/screenshots/`` (``--out``). Needs no network: the page loads
nothing from elsewhere.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "api"))
from service_processes import (  # noqa: E402
    Processes,
    create_api_key,
    free_port,
    service_env,
    wait_ready,
)

CHROMIUM = "/usr/bin/chromium"
EXAMPLE_SMILES = "O=c1cc(C(F)(F)F)c2ccc(N3CCCC3)cc2o1"  # a 7-aminocoumarin dye
VIEWPORT = {"width": 1280, "height": 900}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO_ROOT / "models" / "emission8-default"),
                        help="model folder to serve (default: the shipped model)")
    parser.add_argument("--library", default=str(REPO_ROOT / "examples" / "demo.smi"),
                        help="library to upload for the screen pages (default: demo.smi)")
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "screenshots"),
                        help="folder for the PNG files (default: docs/screenshots)")
    return parser.parse_args(argv)


def take(page, base: str, key: str, library: Path, out: Path) -> list[Path]:
    """Drive the page and write the screenshots; returns their paths."""
    written = []

    def shot(name: str) -> None:
        path = out / name
        page.screenshot(path=str(path), full_page=True)
        written.append(path)

    page.goto(base + "/")
    page.locator("#sign-in").wait_for(state="visible")
    shot("sign-in.png")

    page.fill("#api-key", key)
    page.click("#sign-in-form button[type=submit]")
    page.locator("#app").wait_for(state="visible")
    page.fill("#smiles", EXAMPLE_SMILES)
    page.click("#predict-form button[type=submit]")
    page.locator("#prediction dl.record").wait_for()
    page.click("#toggle-editor")
    page.frame_locator("#editor-frame").locator("body[data-ready=true]").wait_for()
    page.wait_for_timeout(500)  # the editor draws the pasted molecule
    shot("predict.png")

    page.set_input_files("#library", str(library))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/screens/[0-9a-f]{32}$"))
    page.wait_for_function(
        "() => document.getElementById('screen-status').textContent.startsWith('done')",
        timeout=300_000)
    page.wait_for_function("() => [...document.querySelectorAll('#results img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    shot("screen.png")

    page.locator("#results tbody tr").first.locator("td").nth(2).locator("a").click()
    page.locator("#explanation dl.record").wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('main img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    shot("molecule.png")
    return written


def main(argv=None) -> int:
    args = parse_args(argv)
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zincfluor-screens-") as home:
        env = service_env(None, args.model, torch_threads=None, home=home, worker_threads=1)
        key = create_api_key(env, home, name="screenshots")
        port = free_port()
        with Processes(env, home) as processes:
            server = processes.serve(port)
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                     args=["--no-sandbox"])
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(60_000)
                try:
                    written = take(page, base, key, Path(args.library), out)
                finally:
                    browser.close()
    for path in written:
        print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
