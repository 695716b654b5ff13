"""`braze-cdi report` in 80, 120 and 200 columns: nothing cut to "…" or past the edge, the most telling
columns first, the rest named; checked on the real CLI's output."""

from __future__ import annotations

import re

import pytest

from braze_cdi_source.analytics.report import COLUMN_PRIORITY
from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env, load_as_cli
from tests.conftest import FAST_LIMITS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report_width")]  # the report through the CLI at three
# widths, on one pytest-xdist worker (which loads the module-scoped history once)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report_width")
    with BrazeSimulator((7, 45, 137, 0), seed=11, rate_limits=FAST_LIMITS) as sim:
        load_as_cli(folder, sim)
        names = [i["integration_name"] for i in sim.integrations_truth()]
    return folder, names


@pytest.mark.parametrize("width", [80, 120, 200])
def test_report_fits_the_terminal_width(loaded, width):
    folder, names = loaded
    result = braze_cdi("report", cwd=folder, env={**cli_env(folder), "COLUMNS": str(width)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "…" not in result.stdout
    assert max(len(line.rstrip()) for line in lines) <= width
    table = [line for line in lines if line.startswith(("│", "┃"))]
    assert table and all(line.rstrip()[-1] in "│┃" for line in table), "a table row was cut at the edge"

    # every integration once, its whole name readable (a wrapped name continues on the next row's cell)
    cells = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    text = " ".join(cells)
    for name in names:
        assert re.search(r"\s+".join(map(re.escape, name.split())), text), name

    hidden = re.search(r"Not shown at \d+ columns: (.*?) \(a wider", " ".join(line.strip() for line in lines))
    missing = hidden.group(1).split(", ") if hidden else []
    shown = [column for column in COLUMN_PRIORITY if column not in missing]
    header = " ".join(line for line in table if line.startswith("┃"))
    for column in shown:
        assert all(word in header for word in column.split()), column
    if width == 200:
        assert not missing
        assert all(column in header for column in COLUMN_PRIORITY)  # headers unwrapped at full width
    else:
        assert missing and shown[:4] == ["Integration", "Health", "Last sync", "Success 7d"]
