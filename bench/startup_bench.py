"""Start-up figures for the ``sfsync`` command (issue 13, item 7).

Targets: ``sfsync --version`` and ``sfsync --help`` within 0.3 s; every command reaches its own work
within 0.5 s. Each is a new process, as cron or a CronJob starts it, in an empty directory with no
configuration.

* ``--version``, ``--help`` and a sub-command's ``--help``: wall time of the whole process.
* a command: the time from starting the process to the DEBUG line ``command NAME: started`` the CLI
  logs when the command's own code begins (``--log-format json -vv``; the line's ``ts`` against the
  spawn time), and, for reference, the wall time until it has exited 2 for want of a configuration.

    .venv/bin/python bench/startup_bench.py [--repeat 7]

Printed: best and median seconds per command line (the machine is shared: best is the cost, median
what a user sees), the bare interpreter start-up for reference, and the target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

SFSYNC = [sys.executable, "-m", "sfsync.cli"]

# (command line, target seconds, expected exit code)
CASES: list[tuple[list[str], float, int]] = [
    (["--version"], 0.3, 0),
    (["--help"], 0.3, 0),
    (["run"], 0.5, 2),
    (["status"], 0.5, 2),
    (["mappings", "validate"], 0.5, 2),
    (["mappings", "list"], 0.5, 2),
    (["mappings", "schema", "--help"], 0.5, 0),
    (["crypto", "status"], 0.5, 2),
    (["crypto", "rotate"], 0.5, 2),
    (["deadletters", "list"], 0.5, 2),
    (["conflicts", "scan"], 0.5, 2),
    (["salesforce", "check"], 0.5, 2),
    (["demo", "--help"], 0.5, 0),
    (["init", "--help"], 0.5, 0),
]


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("SFSYNC_")}


def timed(argv: list[str], cwd: Path, env: dict[str, str], expected: int) -> tuple[float, float | None]:
    """(wall seconds to exit, seconds until the command logged that it started, if it did)."""
    spawned = time.time()
    started = time.perf_counter()
    finished = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if finished.returncode != expected:
        raise SystemExit(f"{' '.join(argv)}: exit {finished.returncode}, expected {expected}\n{finished.stderr}")
    reached: float | None = None
    for line in finished.stderr.splitlines():
        if line.startswith("{") and '": started"' in line.replace('started"', '": started"'):
            record = json.loads(line)
            if record.get("message", "").endswith(": started"):
                reached = datetime.fromisoformat(record["ts"]).timestamp() - spawned
                break
    return elapsed, reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    env = clean_environment()
    with tempfile.TemporaryDirectory() as empty:
        cwd = Path(empty)
        bare = [timed([sys.executable, "-c", "pass"], cwd, env, 0)[0] for _ in range(args.repeat)]
        print(f"cores: {os.cpu_count()}, load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"bare interpreter start-up: best {min(bare):.3f} s, median {statistics.median(bare):.3f} s\n")
        print(f"{'command':<30} {'reached its work s':>20} {'exited s':>16} {'target s':>9}  within target")
        print(f"{'':<30} {'best / median':>20} {'best / median':>16}")
        failures = 0
        for command, target, expected in CASES:
            is_command = expected == 2
            argv = [*SFSYNC, *(["--log-format", "json", "-vv"] if is_command else []), *command]
            runs = [timed(argv, cwd, env, expected) for _ in range(args.repeat)]
            exits = [wall for wall, _ in runs]
            reached = [at for _, at in runs if at is not None]
            if is_command and len(reached) != len(runs):
                raise SystemExit(f"sfsync {' '.join(command)} did not log that it started")
            measured = reached if is_command else exits
            within = min(measured) <= target
            failures += not within
            label = "sfsync " + " ".join(command)
            reach_text = f"{min(reached):.3f} / {statistics.median(reached):.3f}" if reached else "-"
            exit_text = f"{min(exits):.3f} / {statistics.median(exits):.3f}"
            print(f"{label:<30} {reach_text:>20} {exit_text:>16} {target:>9.1f}  {'yes' if within else 'NO'}")
        leftovers = sorted(p.name for p in cwd.iterdir())
        print(f"\nfiles created in the empty directory: {leftovers or 'none'}")
        print(f"{len(CASES) - failures} of {len(CASES)} command lines within target (best of {args.repeat})")


if __name__ == "__main__":
    main()
