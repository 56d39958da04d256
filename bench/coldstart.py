"""Cold starts: a fresh interpreter per run (bench/coldstart_child.py), timed from spawn to its first response.

Runs of the floor, ours and the baseline are interleaved (floor, ours, naive, floor, ours, ...) so that a busy
moment of the machine hits all three alike; each figure is the median of its runs.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("coldstart_child.py")
PYTHON_FLAGS = ["-I", "-S", "-B"]  # isolated, no site-packages, no bytecode written (Lambda's /opt is read-only)


@dataclass(frozen=True)
class Start:
    """One way of starting a function: `floor` imports SDKs only; `cold`/`snapstart` serve a first request."""

    mode: str
    paths: tuple[str, ...]  # sys.path entries, in order; the last one goes after the stdlib (Lambda's runtime)
    target: str  # floor: comma-separated modules; otherwise the handler attribute of `app`
    environment: dict[str, str]


def start_once(start: Start, event: dict[str, Any] | None) -> dict[str, Any]:
    command = [sys.executable, *PYTHON_FLAGS, str(CHILD), start.mode, ":".join(start.paths), start.target]
    began = time.perf_counter()
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=start.environment, cwd=start.paths[0])
    assert child.stdin and child.stdout and child.stderr
    child.stdin.write(json.dumps(event or {}).encode())
    child.stdin.close()
    done = None
    lines = []
    for raw in child.stdout:
        line = raw.decode()
        if line == "DONE\n" and done is None:
            done = time.perf_counter()
        lines.append(line)
    errors = child.stderr.read().decode()
    # CPU time (user + system) as well as wall time: on a shared machine it hardly moves with the neighbours' load
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    result_line = next((line for line in lines if line.startswith("RESULT ")), None)
    if done is None or result_line is None:
        raise RuntimeError(f"{start.mode} {start.target}: no result (exit {child.returncode})\n{errors[-3000:]}")
    payload = result_line.removeprefix("RESULT ").strip()
    if start.mode in ("floor", "observability"):
        result: dict[str, Any] = {k: float(v) for k, v in (pair.split("=") for pair in payload.split())}
    else:
        result = json.loads(payload)
    result["total_ms"] = (done - began) * 1000
    result["cpu_ms"] = (usage.ru_utime + usage.ru_stime) * 1000
    return result


def interleaved(starts: dict[str, tuple[Start, Callable[[int], dict[str, Any] | None]]], runs: int,
                check: Callable[[str, dict[str, Any]], None]) -> dict[str, list[dict[str, Any]]]:
    """Run every start `runs` times, round-robin; `event_for(run)` gives each run its own first request."""
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in range(runs):
        for name, (start, event_for) in starts.items():
            result = start_once(start, event_for(run))
            check(name, result)
            results[name].append(result)
    return results


def median(results: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in results))


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_breakdown(start: Start, event: dict[str, Any] | None, top: int = 8) -> list[tuple[str, float]]:
    """Self import time summed per top-level package (python -X importtime), largest first, in ms."""
    command = [sys.executable, *PYTHON_FLAGS, "-X", "importtime", str(CHILD), start.mode, ":".join(start.paths),
               start.target]
    completed = subprocess.run(command, input=json.dumps(event or {}).encode(), capture_output=True,
                               env=start.environment, cwd=start.paths[0], timeout=120, check=False)
    totals: dict[str, float] = defaultdict(float)
    for match in _IMPORTTIME.finditer(completed.stderr.decode()):
        totals[match.group(4).split(".")[0]] += int(match.group(1)) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:top]
