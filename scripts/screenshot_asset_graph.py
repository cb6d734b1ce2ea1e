"""Screenshot of the asset graph in headless Chromium -> docs/asset_graph.png.

Starts ``dagster dev`` with the project's DAGSTER_HOME (run ``python -m dagster_project`` first so
the graph shows materialized assets and check results), opens the global asset lineage in Debian's
``chromium`` (``apt-get install -y chromium``), saves the PNG and stops the server.

    .venv/bin/python scripts/screenshot_asset_graph.py [--out docs/asset_graph.png] [--path UI_PAGE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dagster_project.devserver import REPO_ROOT, dagster_dev
from dagster_project.home import ensure_dagster_home

DEFAULT_PAGE = "/assets/raw_interactions?view=lineage&lineageScope=downstream&lineageDepth=4"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1600,1000", "--virtual-time-budget=15000",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "asset_graph.png"))
    # The global lineage page (/asset-groups) shows each group collapsed; the lineage downstream of
    # raw_interactions shows every asset box from the data to the model, evaluation and
    # recommendation assets (the other three raw tables sit next to raw_interactions).
    parser.add_argument("--path", default=DEFAULT_PAGE, help="UI page to capture")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait after the server is up")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    home = ensure_dagster_home()
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with dagster_dev(dict(os.environ, DAGSTER_HOME=str(home))) as url:
        time.sleep(args.settle)  # let the code location finish loading in the UI
        with tempfile.TemporaryDirectory(prefix="hybridrec-chromium-") as profile:
            cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", url + args.path]
            subprocess.run(cmd, check=True, timeout=180, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
