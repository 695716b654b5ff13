"""The benchmark harness runs end to end at tiny sizes and writes every figure (no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the benchmark harness end to end

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)  # every figure at tiny sizes: 2 to 5 minutes on the shared 2-core machine
def test_quick_benchmark_run_writes_every_figure(tmp_path):
    output = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=560,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = output.read_text()
    assert "python -m benchmarks.run --quick" in text
    summary_section = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    summary = [line for line in summary_section.splitlines() if line.startswith("| ") and line[2:3].isdigit()]
    assert [line.split("|")[1].strip() for line in summary] == [str(n) for n in range(1, 14)]
    for line in summary:
        assert "nan" not in line and "None" not in line
    assert "final table equals Braze's truth" in text
    assert "## Spread of figure 3" in text and "## Where braze-cdi's time and memory go" in text
    history = text.split("## 12. History size", 1)[1].split("\n## ", 1)[0].split("Before (", 1)[0]  # not the baseline
    assert "`braze-cdi report --html`" in history and "did not finish" not in history and "page" in history
    assert "## 13. Memory on both paths" in text
