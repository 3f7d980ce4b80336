"""How long `helicon demo` takes, end to end, from a stopped platform: ``python -m bench.demo [--short]``.

Runs the demo as a user would (``helicon demo --no-live`` in a fresh state directory, so the
platform's start-up and shut-down are included), and writes the wall time, the phases from
``summary.json`` and the machine's load average to ``bench/results/demo.md`` (appending a row).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "demo.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="the CI mode")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="helicon-bench-demo-") as scratch:
        report = Path(scratch) / "report"
        command = [sys.executable, "-m", "helicon.runtime.cli.main", "demo", "--no-live", "--seed", str(args.seed),
                   "--state-dir", str(Path(scratch) / "state"), "--report", str(report),
                   "--pipeline", "bench-demo", *(["--short"] if args.short else [])]
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        completed = subprocess.run(command, capture_output=True, text=True)
        wall = time.monotonic() - started
        load_after = os.getloadavg()[0]
        if completed.returncode != 0:
            sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-3000:])
            return completed.returncode
        summary = json.loads((report / "summary.json").read_text())
    timings = summary.get("timings", {})
    phases = ", ".join(f"{name.removesuffix('_s').replace('_', ' ')} {value:.0f} s" for name, value in timings.items())
    row = (f"| {time.strftime('%Y-%m-%d %H:%M')} | {'short' if args.short else 'full'} | {summary['events']} | "
           f"{wall:.0f} s | {phases} | {os.cpu_count()} | {load_before:.1f} → {load_after:.1f} |\n")
    if not RESULTS.exists():
        RESULTS.write_text("# `helicon demo` wall time\n\n"
                           "`python -m bench.demo [--short]`: the demo from a stopped platform to its exit, in a fresh state "
                           "directory (platform start and stop included). Phases from `summary.json` `timings`; the platform's "
                           "start and stop are the rest of the wall time.\n\n"
                           "| when (UTC) | mode | events | wall time | phases | cores | load average (1 min) before → after |\n"
                           "|---|---|---|---|---|---|---|\n")
    with RESULTS.open("a") as handle:
        handle.write(row)
    sys.stdout.write(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
