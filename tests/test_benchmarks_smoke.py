"""The benchmark harness runs end to end at tiny sizes and writes every figure (no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_run_writes_all_seven_figures(tmp_path):
    output = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=420,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = output.read_text()
    assert "python -m benchmarks.run --quick" in text
    summary = [line for line in text.splitlines() if line.startswith("| ") and line[2:3].isdigit()]
    assert [line.split("|")[1].strip() for line in summary] == ["1", "2", "3", "4", "5", "6", "7"]
    for line in summary:
        assert "nan" not in line and "None" not in line
    assert "final table equals Braze's truth" in text
