"""`braze-cdi health --notify URL`: post unhealthy integrations to a Slack-compatible incoming webhook, when the
unhealthy set changed (cron does not repeat an alarm). The URL is the credential: only its host is ever printed.
When a notice goes and where the last one is kept: docs/operate.md (step 7, Alert)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ..analytics.health import HealthResult, when
from ..errors import BrazeCdiError, ConfigurationError
from ..http.transport import BoundedAdapter

logger = logging.getLogger("braze_cdi")

NOTICE_FILE = "health_notice.json"
TIMEOUT_SECONDS = 10.0
"""The whole post (connect, headers and body of the answer): a webhook that trickles its answer, under the cron
script's lock, would otherwise hold every later load."""
MAX_LISTED = 40
"""Integrations listed in one notice (Slack caps blocks at 50); the rest are counted."""


@dataclass
class NoticeOutcome:
    """What happened to the notice: sent, skipped (nothing changed) or failed, and a sentence."""

    status: str  # sent | unchanged | failed
    message: str


def _mrkdwn(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def build_payload(result: HealthResult, where: str) -> dict[str, Any]:
    """Slack's incoming-webhook JSON: `text` (the fallback every compatible receiver shows) and `blocks`."""
    rows = [row for row in result.integrations if row["health"] in result.fail_on]
    if not rows:
        counts = Counter(row["health"] for row in result.integrations)
        text = (
            f"braze-cdi: no integration is {' or '.join(result.fail_on)} any more "
            f"({', '.join(f'{n} {h}' for h, n in sorted(counts.items()))}; {where})."
        )
        return {"text": text, "blocks": [_section(_mrkdwn(text))]}
    text = f"braze-cdi: {len(rows)} unhealthy integration(s) ({where})"
    lines = []
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": text[:150]}}]
    for row in rows[:MAX_LISTED]:
        name = row.get("integration_name") or row["integration_id"]
        last = when(row.get("last_sync_start_time"))
        reason = (row.get("problem") or row["health"]).split(" — ", 1)[-1]
        line = f"{name} [{row['integration_id']}]: {row['health']} — {reason} (last sync {last})"
        lines.append(line)
        blocks.append(_section(f"*{_mrkdwn(name)}* `{row['health']}`\n{_mrkdwn(reason)}\nlast sync: {_mrkdwn(last)}"))
    if len(rows) > MAX_LISTED:
        more = f"… and {len(rows) - MAX_LISTED} more: run `braze-cdi health`."
        lines.append(more)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(more)}]})
    return {"text": text + ":\n" + "\n".join(lines), "blocks": blocks}


def notify(url: str, result: HealthResult, state_dir: Path, where: str, always: bool = False) -> NoticeOutcome:
    """Post the notice when the unhealthy set changed (or `always`); remember what was sent."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "(no host)"  # the only part of the URL (the credential) that is ever shown
    except ValueError:
        raise ConfigurationError("the --notify URL does not parse (e.g. an unclosed [ in an IPv6 host): give the "
                                 "webhook's full https:// URL.") from None
    if parts.scheme not in ("http", "https"):
        return NoticeOutcome("failed", "the --notify URL must start with https:// (or http://): no notice sent.")
    path = state_dir / NOTICE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    state = state if isinstance(state, dict) else {}
    current = sorted([row["integration_id"], row["health"]] for row in result.integrations
                     if row["health"] in result.fail_on)  # the integrations that make health fail
    last = state.get(where) if isinstance(state.get(where), dict) else None
    # what was notified, seen through this run's --fail-on: a degraded one listed under `+degraded` is not
    # "healthy again" for a check that does not fail on degraded
    previous = [pair for pair in (last or {}).get("unhealthy", []) if pair[1] in result.fail_on]
    if not always and current == previous:
        why = "the same as at the last notice" if last else "none, and no notice was sent before: nothing to notify"
        return NoticeOutcome("unchanged", f"no notice to {host}: the unhealthy integrations are {why}.")
    try:
        with requests.Session() as session:
            adapter = BoundedAdapter(url, timeout=TIMEOUT_SECONDS, max_body_bytes=64 * 1024)
            adapter.reached.set()  # a refused connection is this notice's failure, not a wrong base_url
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            status = session.post(url, json=build_payload(result, where), allow_redirects=False).status_code
    except (requests.RequestException, BrazeCdiError) as error:
        # the exception's text may hold the URL (the secret): only its type is told
        return NoticeOutcome("failed", f"could not post the health notice to {host}: {type(error).__name__}.")
    if not 200 <= status < 300:
        return NoticeOutcome("failed", f"the webhook at {host} answered {status}: no notice delivered.")
    state[where] = {"unhealthy": current, "sent_at": datetime.now(timezone.utc).isoformat()}
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    except OSError as error:
        logger.warning("could not remember the health notice in %s: %s", path, error)
    return NoticeOutcome("sent", f"health notice posted to {host} ({len(current)} unhealthy integration(s)).")
