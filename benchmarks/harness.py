"""What every benchmark shares: machine facts, timing a child process, the JSON result file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Facts about the machine the figures were measured on."""
    return {
        "hostname": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def run_child(code: str, *args: str) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; return its JSON output plus wall seconds and peak RSS."""
    wrapper = (
        "import json, resource, sys\n"
        f"{code}\n"
        "out = main(*sys.argv[1:])\n"
        "out['peak_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)\n"
        "print(json.dumps(out))\n"
    )
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    return result


def write_result(name: str, settings: dict[str, Any], rows: list[dict[str, Any]]) -> Path:
    """Print settings and rows, and write benchmarks/results/NAME.json."""
    payload = {"benchmark": name, "machine": machine(), "settings": settings, "results": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"== {name}: settings {json.dumps(settings)}")
    for row in rows:
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
    print(f"wrote {path}")
    return path


def timed_threads(concurrency: int, work: Callable[[int, threading.Barrier], None]) -> float:
    """Run `work(i, start)` on `concurrency` threads; each calls `start.wait()` when it is ready, and
    the clock runs from the moment all are until the last one ends. Wall-clock seconds."""
    start = threading.Barrier(concurrency + 1)
    threads = [threading.Thread(target=work, args=(i, start)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began
