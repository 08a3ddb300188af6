"""Run Jinli's benchmarks: ``python bench/run.py [--quick] [IDS…]``.

Each benchmark module ``bench/b<N>_<name>.py`` defines ``BENCH_ID`` (e.g. ``"B4"``) and
``run(quick: bool) -> list[dict]``; every dict is printed as one JSON line with the contract of
``shared/reference/performance.md``: bench, subject, reference, unit, ratio, target, correct,
rounds, host, notes. Benchmarks measure the subject and a reference in the same run, interleaved,
and never assert on time; a non-zero correctness counter sets ``"correct": false``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).parent


def _modules() -> list[ModuleType]:
    modules = []
    for path in sorted(HERE.glob("b[0-9]*_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses and pickling look the module up by name
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def host() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("ids", nargs="*", help="benchmark ids to run (e.g. B4 B5); all if none")
    args = parser.parse_args(argv)
    wanted = {i.upper() for i in args.ids}
    modules = [m for m in _modules() if not wanted or m.BENCH_ID.upper() in wanted]
    if wanted and not modules:
        print(f"error: no benchmark with id {' '.join(sorted(wanted))}", file=sys.stderr)
        return 2
    for module in modules:
        for result in module.run(args.quick):
            result.setdefault("host", host())
            print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
