"""`braze-cdi check`: verify configuration, instance, key and both permissions before the first run.

Each check says exactly what is wrong and what to do; none prints the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from requests.exceptions import RequestException

from ..errors import BrazeApiError, BrazeCdiError
from ..http.client import BrazeClient, check_api_key, check_base_url
from ..http.retries import RetryBudget
from ..settings import JOB_STATUS_PERMISSION, JOB_SYNC_STATUS_PATH, LIST_PATH, LIST_PERMISSION

PROBE_INTEGRATION_ID = "00000000-0000-0000-0000-000000000000"
"""Asked for when the workspace lists no integration: a 400 'Invalid integration ID' proves the permission."""


@dataclass
class Check:
    """One verified fact: its name, whether it holds, and a sentence for the user."""

    name: str
    ok: bool
    detail: str


def run_checks(api_key: Any, base_url: Any) -> list[Check]:
    """Configuration, then the list endpoint, then job sync status; stops at the first blocking failure."""
    checks: list[Check] = []
    try:
        check_api_key(api_key)
        checks.append(Check("api key", True, "present, no quotes or spaces"))
        url = check_base_url(base_url)
        checks.append(Check("base url", True, url))
    except BrazeCdiError as error:
        checks.append(Check("configuration", False, str(error)))
        return checks

    client = BrazeClient(api_key, url, budget=RetryBudget(max_attempts=3, backoff_factor=0.5, max_delay=5))
    try:
        first_page = next(iter(client.pages(LIST_PATH)), [])
    except BrazeApiError as error:
        checks.append(Check(f"permission {LIST_PERMISSION}", False, str(error)))
        return checks
    except (BrazeCdiError, RequestException) as error:
        checks.append(Check("instance", False, f"{url} did not answer like Braze: {error}"))
        return checks
    checks.append(Check("instance and key", True, f"{url} accepted the key"))
    checks.append(
        Check(f"permission {LIST_PERMISSION}", True, f"{len(first_page)} integration(s) on the first page")
    )

    ids = [str(i["integration_id"]) for i in first_page if isinstance(i, dict) and i.get("integration_id")]
    probe = ids[0] if ids else PROBE_INTEGRATION_ID
    path = JOB_SYNC_STATUS_PATH.format(integration_id=probe)
    try:
        syncs = next(iter(client.pages(path, probe)), [])
        checks.append(
            Check(f"permission {JOB_STATUS_PERMISSION}", True, f"read {len(syncs)} sync(s) of integration {probe}")
        )
    except BrazeApiError as error:
        if not ids and error.status == 400 and "integration" in error.braze_message.lower():
            checks.append(
                Check(f"permission {JOB_STATUS_PERMISSION}", True, "granted (the workspace has no integration yet)")
            )
        else:
            checks.append(Check(f"permission {JOB_STATUS_PERMISSION}", False, str(error)))
    except (BrazeCdiError, RequestException) as error:
        checks.append(Check(f"permission {JOB_STATUS_PERMISSION}", False, str(error)))
    return checks
