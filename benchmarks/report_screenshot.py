"""Open a run report in headless Chromium: screenshot it and check it renders offline, cleanly.

    python benchmarks/report_screenshot.py runs/a/report.html --out report.png
    python benchmarks/report_screenshot.py runs/a            # the folder's report.html

Checks, each printed, exit status 1 if any fails:
* Chromium logged no console message (the page has no script, so any message -- an error, a failed
  decode -- is a fault). Read from ``--enable-logging=stderr``'s ``CONSOLE`` lines.
* The page asked for nothing from the network: Chromium's net log (``--log-net-log``) holds no request
  made on behalf of the ``file://`` page (Chromium's own background requests are told apart by their
  network isolation key). DNS is also mapped to nowhere, so nothing could leave the machine anyway.
* The screenshot was written and is not blank.

Needs Debian's ``chromium`` (``bash scripts/system_packages.sh``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0",
)
CONSOLE = re.compile(r":CONSOLE(?:\(\d+\))?:?\d*\]\s*(.*)")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("chromium is not installed: run 'sudo apt-get install chromium' (or bash scripts/system_packages.sh)")


def page_requests(net_log: Path) -> list[str]:
    """URLs the page itself requested (not file:, data:), from Chromium's net log."""
    try:
        events = json.loads(net_log.read_text()).get("events", [])
    except (OSError, json.JSONDecodeError):
        text = net_log.read_text(errors="replace").rstrip().rstrip(",")  # a log cut short on exit
        events = json.loads(text + "]}").get("events", []) if text else []
    urls = []
    for event in events:
        params = event.get("params") or {}
        url = params.get("url", "")
        if url and str(params.get("network_isolation_key", "")).startswith("file://") \
                and not url.startswith(("file:", "data:")):
            urls.append(url)
    return sorted(set(urls))


def screenshot(report: Path, out: Path, width: int, height: int, timeout: float = 60) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        net_log = Path(tmp) / "net.json"
        cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--log-net-log={net_log}",
               f"--screenshot={out}", f"--window-size={width},{height}", report.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        console = [m.group(1) for line in proc.stderr.splitlines() if (m := CONSOLE.search(line))]
        requests = page_requests(net_log) if net_log.exists() else []
    return {"returncode": proc.returncode, "console": console, "requests": requests,
            "screenshot": out if out.is_file() else None}


def not_blank(png: Path) -> bool:
    from PIL import Image

    with Image.open(png) as img:
        low, high = img.convert("L").getextrema()
    return high - low > 32


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="report.html, or a run folder holding one")
    parser.add_argument("--out", type=Path, default=None, help="screenshot PNG (default: beside the report)")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args(argv)
    report = args.report / "report.html" if args.report.is_dir() else args.report
    if not report.is_file():
        sys.exit(f"{report} not found; write it with `googlenet report RUN` first")
    out = args.out or report.with_name(report.stem + "-screenshot.png")
    result = screenshot(report, out, args.width, args.height)
    checks = {
        "chromium exited 0": result["returncode"] == 0,
        "no console messages": not result["console"],
        "no network requests": not result["requests"],
        "screenshot written, not blank": bool(result["screenshot"]) and not_blank(out),
    }
    for message in result["console"]:
        print(f"  console: {message}")
    for url in result["requests"]:
        print(f"  request: {url}")
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    print(f"screenshot: {out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
