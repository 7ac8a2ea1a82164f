"""bench/run_all.py: one table from every bench's JSON; a failing bench is a FAILED row.

Real subprocesses: tiny bench scripts that write good JSON, crash, write nothing, or
write something that is not the schema.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_all", REPO / "bench" / "run_all.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = module
    spec.loader.exec_module(module)
    return module


GOOD = """
import json, sys
out = sys.argv[sys.argv.index("--json-out") + 1]
rows = [{"what": "fan-out, 50 hosts", "value": 1.1, "unit": "s", "anchor": "bare",
         "anchor_value": 1.0, "ratio": 1.1},
        {"what": "no anchor", "value": 3, "unit": "ms", "anchor": None,
         "anchor_value": None, "ratio": None}]
json.dump({"bench": "good", "rows": rows}, open(out, "w"))
print("quick" if "--quick-flag" in sys.argv else "full")
"""


def test_rows_failures_and_one_table(tmp_path: Path) -> None:
    ra = run_all()
    scripts = {
        "good": GOOD,
        "crash": "import sys; print('boom: no sshd'); sys.exit(3)",
        "silent": "pass",
        "garbled": "import sys; open(sys.argv[2], 'w').write('{\"rows\": 5}')",
    }
    outcomes = []
    for name, text in scripts.items():
        script = tmp_path / f"{name}.py"
        script.write_text(text)
        bench = ra.Bench(name, str(script), ("--quick-flag",))
        outcomes.append(ra.run_bench(bench, True, tmp_path))
    good, crash, silent, garbled = outcomes
    assert good.failed is None
    assert [(r.what, r.value, r.anchor_value, r.ratio) for r in good.rows] == [
        ("fan-out, 50 hosts", 1.1, 1.0, 1.1),
        ("no anchor", 3.0, None, None),
    ]
    assert (tmp_path / "good.log").read_text() == "quick\n"
    assert crash.failed == "exit status 3: boom: no sshd"
    assert silent.failed == "wrote no JSON"
    assert garbled.failed == 'JSON without a "rows" list'
    missing = ra.run_bench(ra.Bench("gone", "no_such_bench.py"), False, tmp_path)
    assert missing.failed == "no_such_bench.py not found"

    lines = ra.table([*outcomes, missing]).splitlines()
    assert lines[0].split() == ["bench", "what", "value", "unit", "anchor", "(same", "run)",
                                "anchor", "ratio"]  # fmt: skip
    body = [ln.split() for ln in lines[2:]]
    assert body[0][-4:] == ["s", "bare", "1.00", "1.10"]
    assert body[1][-5:] == ["3.00", "ms", "-", "-", "-"]
    failed = [" ".join(b) for b in body[2:]]
    assert failed == [
        "crash FAILED: exit status 3: boom: no sshd",
        "silent FAILED: wrote no JSON",
        'garbled FAILED: JSON without a "rows" list',
        "gone FAILED: no_such_bench.py not found",
    ]
