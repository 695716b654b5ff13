"""`braze-cdi check`: verify configuration, instance, key, both permissions and the destination before a run.

Each check says what is wrong and what to do, never the key; unreachable, a rejected key (401) and a missing
permission (403) are told apart: they need different fixes.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click
from requests.exceptions import RequestException
from urllib3.exceptions import NewConnectionError, SSLError

from ..errors import BrazeApiError, BrazeCdiError, exception_chain
from ..http.client import BrazeClient, check_api_key, check_base_url, job_sync_status_path
from ..http.retries import RetryBudget
from ..job import describe_location, make_pipeline
from ..settings import JOB_STATUS_PERMISSION, LIST_PATH, LIST_PERMISSION
from ..terminal_text import markup_safe
from .main import EXIT_ERROR, EXIT_OK, describe_error, emit, handle_errors, is_json, main, out, pipeline_options

PROBE_INTEGRATION_ID = "00000000-0000-0000-0000-000000000000"
"""Asked for when the workspace lists no integration: a 400 'Invalid integration ID' proves the permission."""


@dataclass
class Check:
    """One verified fact: its name, whether it holds, and a sentence for the user."""

    name: str
    ok: bool
    detail: str


def unreachable_reason(error: BaseException) -> str | None:
    """Why the instance could not be reached (refused, TLS, timeout; DNS is asked first, by `check_instance`)."""
    for current in exception_chain(error):
        if isinstance(current, SSLError) or type(current).__name__ == "SSLError":
            return "the TLS handshake failed: check that base_url is https://rest.<instance>.braze.com"
        if isinstance(current, (NewConnectionError, ConnectionRefusedError)):
            return "the connection was refused or could not be opened: check base_url and your network or proxy"
        if type(current).__name__ in ("ConnectTimeout", "ReadTimeout", "Timeout", "TimeoutError"):
            return "it did not answer in time: check your network or proxy"
    return None


def check_instance(api_key: str, url: str, checks: list[Check]) -> list[Any] | None:
    """Reach the instance and list integrations: the first page, or None after appending the failed check."""
    parts = urlsplit(url)
    try:  # DNS first: its failure is told at once, not after a client's retries
        socket.getaddrinfo(parts.hostname or "", parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror:
        dns = f"{parts.hostname} does not resolve (DNS): check base_url for typos."
        checks.append(Check("instance reachable", False, dns))
        return None
    reachable = Check("instance reachable", True, url)
    try:
        first_page = next(iter(_client(api_key, url).pages(LIST_PATH)), [])
    except (BrazeCdiError, RequestException) as error:
        reason = unreachable_reason(error)
        status = getattr(error, "status", None)
        # a BaseUrlUnreachableError has a reason: exception_chain walks on to the connection error it replaced
        if reason is not None or (isinstance(error, BrazeApiError) and status is None):
            checks.append(Check("instance reachable", False, f"{url}: {reason or error}."))
        elif status == 401:
            checks += [reachable, Check("key accepted", False, f"Braze answered 401: {str(error).split(': ', 1)[-1]}")]
        elif status == 403:
            checks += [reachable, Check("key accepted", True, "the instance knows the key"),
                       Check(f"permission {LIST_PERMISSION}", False, str(error))]
        else:
            checks.append(Check("instance", False, f"{url} did not answer like Braze: {error}"))
        return None
    checks += [reachable, Check("key accepted", True, "Braze answered with the integration list"),
               Check(f"permission {LIST_PERMISSION}", True, f"{len(first_page)} integration(s) on the first page")]
    return first_page


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

    first_page = check_instance(api_key, url, checks)
    if first_page is None:
        return checks
    ids = [str(i["integration_id"]) for i in first_page if isinstance(i, dict) and i.get("integration_id")]
    probe = ids[0] if ids else PROBE_INTEGRATION_ID
    name = f"permission {JOB_STATUS_PERMISSION}"
    try:
        syncs = next(iter(_client(api_key, url).pages(job_sync_status_path(probe), probe)), [])
        checks.append(Check(name, True, f"read {len(syncs)} sync(s) of integration {probe}"))
    except (BrazeCdiError, RequestException) as error:
        refused = error.braze_message.lower() if isinstance(error, BrazeApiError) and error.status == 400 else ""
        if not ids and "integration" in refused:  # the probe id is unknown: the permission was granted
            checks.append(Check(name, True, "granted (the workspace has no integration yet)"))
        else:
            checks.append(Check(name, False, str(error)))
    return checks


def _client(api_key: str, url: str) -> BrazeClient:
    """A client that gives up soon: `check` is interactive."""
    return BrazeClient(api_key, url, budget=RetryBudget(max_attempts=2, backoff_factor=0.5, max_delay=2))


PROBE_TABLE = "_braze_cdi_check_probe"


def check_destination(pipeline: Any) -> list[Check]:
    """Connect to the destination, create the dataset if needed, write and drop a probe table (or file)."""
    from dlt.destinations.fs_client import FSClientBase

    checks: list[Check] = []
    name = pipeline.destination.destination_name if pipeline.destination else "?"
    try:
        client = pipeline.destination_client()
    except Exception as error:  # noqa: BLE001 - configuration missing or invalid: one sentence
        return [Check(f"destination {name}", False, describe_error(error))]
    where = describe_location(pipeline)
    if isinstance(client, FSClientBase):
        probe = f"{client.dataset_path.rstrip('/')}/{PROBE_TABLE}"
        try:
            client.fs_client.makedirs(client.dataset_path, exist_ok=True)
            client.fs_client.pipe(probe, b"probe")
            client.fs_client.rm(probe)
        except Exception as error:  # noqa: BLE001 - any storage failure is the finding
            return [Check(f"destination {name}", False, f"{where}: could not write a file: {describe_error(error)}")]
        return [Check(f"destination {name}", True, f"{where}: wrote and removed a probe file")]
    step = "connect"
    try:
        with pipeline.sql_client() as sql:
            checks.append(Check(f"destination {name}", True, f"connected to {where}"))
            step = f"create dataset {pipeline.dataset_name}"
            existed = sql.has_dataset()
            if not existed:
                sql.create_dataset()
            checks.append(Check("dataset", True, f"{pipeline.dataset_name} {'exists' if existed else 'created'}"))
            step = "write and drop a probe table"
            table = sql.make_qualified_table_name(PROBE_TABLE)
            sql.execute_sql(f"CREATE TABLE {table} (probe INTEGER)")
            try:
                sql.execute_sql(f"INSERT INTO {table} VALUES (1)")
            finally:
                sql.execute_sql(f"DROP TABLE {table}")
            checks.append(Check("write permission", True, f"created, wrote and dropped {table}"))
    except Exception as error:  # noqa: BLE001 - any destination failure is the finding
        label = {"connect": f"destination {name}"}.get(step, step)
        checks.append(Check(label, False, f"{where}: {describe_error(error)}"))
    return checks


@main.command()
@pipeline_options
@click.option("--skip-destination", is_flag=True, help="Check only Braze, not the destination.")
@handle_errors
def check(pipeline_name: str, destination: str, dataset_name: str, skip_destination: bool) -> None:
    """Verify configuration, instance, key and both permissions, then the destination (connect, create the
    dataset, write and drop a probe table)."""
    import dlt

    # a missing setting fails run_checks' configuration check with the message `run` gives
    results = run_checks(dlt.secrets.get("sources.braze_cdi.api_key"), dlt.config.get("sources.braze_cdi.base_url"))
    if not skip_destination:
        try:
            pipeline = make_pipeline(pipeline_name, destination, dataset_name)
        except Exception as error:  # noqa: BLE001 - an unknown destination name is a finding like the others
            results.append(Check(f"destination {destination}", False, describe_error(error)))
        else:
            results += check_destination(pipeline)
    for result in results:
        if is_json():
            emit({"check": result.name, "ok": result.ok, "detail": result.detail})
        else:
            mark = "[green]ok[/]  " if result.ok else "[bold red]FAIL[/]"
            out.print(f"{mark} {result.name}: {markup_safe(result.detail)}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_OK if all(r.ok for r in results) else EXIT_ERROR)
