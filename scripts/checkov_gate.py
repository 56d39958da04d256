"""`make checkov`: checkov on the template as CloudFormation receives it, failing on any finding that
checkov-skips.yaml does not accept with its reason, and on an accepted finding that no longer occurs.

    python scripts/checkov_gate.py TRANSLATED_TEMPLATE [CHECKOV]

CHECKOV is the checkov executable (its own virtualenv: `make checkov` makes it). Prints every finding with what
became of it: accepted (and why, in short) or failing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SKIPS = ROOT / "checkov-skips.yaml"


def findings(template: str, checkov: str) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
    """(check id, logical id, check name) of every failed check, and checkov's summary."""
    run = subprocess.run([checkov, "--file", template, "--framework", "cloudformation", "--output", "json",
                          "--quiet", "--compact"], capture_output=True, text=True, check=False)
    if run.returncode not in (0, 1) or not run.stdout.strip():
        raise SystemExit(f"checkov did not run ({run.returncode}): {run.stderr[-2000:]}")
    report = json.loads(run.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(f["check_id"], f["resource"].rsplit(".", 1)[-1], f["check_name"])
              for f in report["results"]["failed_checks"]]
    return failed, report["summary"]


def main(template: str, checkov: str = "checkov") -> int:
    accepted = yaml.safe_load(SKIPS.read_text())
    failed, summary = findings(template, checkov)
    problems, used = [], set()
    for check_id, resource, name in failed:
        skip = accepted.get(check_id)
        if skip is not None and resource in skip["resources"]:
            used.add((check_id, resource))
            print(f"accepted  {check_id} {resource}: {' '.join(skip['reason'].split())[:100]}...")
        else:
            problems.append(f"{check_id} {resource}: {name}")
    stale = [f"{check_id} {resource}" for check_id, skip in accepted.items() for resource in skip["resources"]
             if (check_id, resource) not in used]
    print(f"checkov {summary['checkov_version']}: {summary['passed']} passed, {summary['failed']} failed "
          f"({len(used)} accepted in {SKIPS.name}), {summary['resource_count']} resources")
    for problem in problems:
        print(f"FAILING   {problem} (fix it, or accept it in {SKIPS.name} with its reason)")
    for entry in stale:
        print(f"STALE     {entry}: accepted in {SKIPS.name} but no longer found; remove it")
    return 1 if problems or stale else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
