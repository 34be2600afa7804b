#!/usr/bin/env python
"""Start-up of ``manage.py package`` on a tiny tree (run by hand; prints figures).

Times, best and median of ``--runs`` fresh processes, wall clock and CPU (user + sys):

- ``python -c pass``: the interpreter's own floor;
- ``manage.py package``: the fast path (no Django, goal <= 150 ms);
- ``manage.py package --settings=...``: the same command through Django's runner
  (settings, every app, the admin), as it ran before the fast path.

    .venv/bin/python benchmarks/bench_startup.py [--runs 15]

Each case runs once untimed first, with bytecode written to a private cache
(``PYTHONPYCACHEPREFIX``, even where ``PYTHONDONTWRITEBYTECODE`` is set), so the
figures are a modder's second build, not the compiler's: compiling the packager's
modules from source costs more than loading them.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "fixtures" / "extensions" / "hello_minimal"
GOAL_MS = 150.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    cmd: list[str], runs: int, env: dict[str, str]
) -> tuple[list[float], list[float]]:
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env)
    walls, cpus = [], []
    for _ in range(runs):
        cpu0, start = _children_cpu(), time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu0)
    return walls, cpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="comfyvn-startup-"))
    py = sys.executable
    package = [py, "manage.py", "package", str(SAMPLE), "--output", str(out), "--force"]
    cases = {
        "python -c pass": [py, "-c", "pass"],
        "manage.py package (fast path)": package,
        "manage.py package via Django": [*package, "--settings=comfyvn_site.settings"],
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "comfyvn_site.settings")
    env["PYTHONPYCACHEPREFIX"] = str(out / "pycache")
    print(f"== start-up, {args.runs} runs each, on {os.cpu_count()} cores ==")
    results = {}
    for label, cmd in cases.items():
        walls, cpus = measure(cmd, args.runs, env)
        results[label] = min(walls)
        print(
            f"{label:32} wall best={min(walls) * 1000:6.0f} ms "
            f"median={statistics.median(walls) * 1000:6.0f} ms   "
            f"cpu best={min(cpus) * 1000:6.0f} ms"
        )
    fast = results["manage.py package (fast path)"] * 1000
    print(f"fast path best {fast:.0f} ms (goal <= {GOAL_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
