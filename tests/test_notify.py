"""`braze-cdi health --notify URL`: unhealthy integrations posted to a Slack-compatible webhook on loopback,
only when the set changed (or always), and a webhook that fails never changes health's exit code."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from braze_cdi_source.simulator import BrazeSimulator
from tests.cli import braze_cdi, cli_env, load_as_cli
from tests.conftest import FAST_LIMITS

pytestmark = pytest.mark.slow  # health runs through the CLI against a webhook (the data is loaded in-process)

SECRET_PATH = "/services/T0000/B0000/notify-SECRET-token"


@contextmanager
def receiver(status: int = 200) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An incoming-webhook stand-in on 127.0.0.1 that records every JSON body and answers `status`."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", 0))
            received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}", received
    finally:
        server.shutdown()
        server.server_close()


def health(tmp_path, *args: str):
    result = braze_cdi("health", *args, cwd=tmp_path, env=cli_env(tmp_path))
    assert SECRET_PATH not in result.stdout + result.stderr, "the webhook URL is a secret"
    return result


def test_notices_go_out_when_the_unhealthy_set_changes_and_failures_keep_the_exit_code(tmp_path):
    with BrazeSimulator((7, 12), rate_limits=FAST_LIMITS, seed=5) as sim:
        first, second = sim.integration_ids
        sim.finish_running()
        sim.add_syncs(first, 3, status="error")
        sim.add_syncs(second, 2, status="success")
        load_as_cli(tmp_path, sim)
        name = next(i["integration_name"] for i in sim.integrations_truth() if i["integration_id"] == first)

        with receiver() as (url, received):
            notified = health(tmp_path, "--notify", url)
            assert notified.returncode == 1, notified.stdout + notified.stderr
            assert len(received) == 1
            body = received[0]["body"]
            assert received[0]["path"] == SECRET_PATH
            assert name in body["text"] and "failing" in body["text"] and "last sync" in body["text"]
            assert first in body["text"] and second not in body["text"]
            assert body["blocks"] and any(name in json.dumps(block) for block in body["blocks"])
            assert "health notice posted to 127.0.0.1" in notified.stderr

            again = health(tmp_path, "--notify", url)
            assert again.returncode == 1 and len(received) == 1  # same set: no second alarm
            assert "the same as at the last notice" in again.stderr

            always = health(tmp_path, "--notify", url, "--notify-always")
            assert always.returncode == 1 and len(received) == 2

            # the set changes: the second integration starts failing too
            sim.add_syncs(second, 2, status="error")
            load_as_cli(tmp_path, sim)
            changed = health(tmp_path, "--notify", url)
            assert changed.returncode == 1 and len(received) == 3
            assert second in received[2]["body"]["text"]

            # both recover: one notice says so, then silence
            sim.add_syncs(first, 3, status="success")
            sim.add_syncs(second, 3, status="success")
            load_as_cli(tmp_path, sim)
            recovered = health(tmp_path, "--notify", url)
            assert recovered.returncode == 0 and len(received) == 4
            assert "no integration is failing or stuck or stale any more" in received[3]["body"]["text"]
            assert health(tmp_path, "--notify", url).returncode == 0 and len(received) == 4

        sim.add_syncs(first, 2, status="error")  # failing again, for the failing webhooks below
        load_as_cli(tmp_path, sim)
        with receiver(status=500) as (url, received):
            failed = health(tmp_path, "--notify", url, "--notify-always")
            assert len(received) == 1
        assert failed.returncode == 1  # health's own verdict, not the webhook's
        assert "the webhook at 127.0.0.1 answered 500" in failed.stderr

        refused = health(tmp_path, "--notify", url, "--notify-always")  # the receiver is gone
        assert refused.returncode == 1
        assert "could not post the health notice to 127.0.0.1" in refused.stderr


def test_notices_follow_the_fail_on_they_were_sent_with(tmp_path):
    """A first check with nothing unhealthy sends nothing and says why; a notice sent with `+degraded` lists the
    degraded integration; the next check with the default --fail-on does not call it 'healthy again'."""
    with BrazeSimulator((7, 12), rate_limits=FAST_LIMITS, seed=5) as sim:
        first, second = sim.integration_ids
        sim.finish_running()
        sim.add_syncs(first, 3, status="success")
        sim.add_syncs(second, 3, status="success")
        load_as_cli(tmp_path, sim)
        with receiver() as (url, received):
            quiet = health(tmp_path, "--notify", url)
            assert quiet.returncode == 0 and not received
            assert "same as last time" not in quiet.stderr and "nothing to notify" in quiet.stderr

            sim.add_syncs(first, 1, status="error")  # the last sync failed once: degraded
            load_as_cli(tmp_path, sim)
            degraded = health(tmp_path, "--notify", url, "--fail-on", "+degraded")
            assert degraded.returncode == 1 and len(received) == 1
            assert first in received[0]["body"]["text"] and "degraded" in received[0]["body"]["text"]

            default = health(tmp_path, "--notify", url)
            assert default.returncode == 0
            assert len(received) == 1, [r["body"]["text"] for r in received]  # still degraded: no "healthy again"


def _unhealthy() -> Any:
    from types import SimpleNamespace

    row = {"integration_id": "a", "integration_name": "A", "health": "failing", "last_sync_start_time": None}
    return SimpleNamespace(integrations=[row], fail_on=("failing",))


def test_a_webhook_that_trickles_its_answer_is_cut_at_the_total_deadline(tmp_path, monkeypatch):
    """Issue 21 row 9: the webhook sends its headers one byte every 0.3 s (every 5 s in the field, where
    `health` never ended, under the cron script's lock). Bound: the post fails at the total deadline (1 s
    here), the outcome says so without the URL's secret path."""
    import socket
    import time

    from braze_cdi_source.cli import notify

    monkeypatch.setattr(notify, "TIMEOUT_SECONDS", 1.0)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 100:
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.3)

    threading.Thread(target=trickle, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}{SECRET_PATH}"
    outcome: list[Any] = []
    poster = threading.Thread(target=lambda: outcome.append(notify.notify(url, _unhealthy(), tmp_path, "here")))
    poster.start()
    poster.join(timeout=10)  # the headers trickle for 30 s: only the post's own deadline ends it sooner
    listener.close()
    assert not poster.is_alive(), "the post outlived its deadline"
    [result] = outcome
    assert result.status == "failed" and SECRET_PATH not in result.message


def test_a_notify_url_that_does_not_parse_is_a_configuration_error(tmp_path):
    """Issue 21 minor: `--notify "http://[::1/x"` was a traceback and exit 1 (which reads as "unhealthy");
    `notify` raises a ConfigurationError, which `health` turns into one sentence and exit 2."""
    import pytest

    from braze_cdi_source.cli.notify import notify
    from braze_cdi_source.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="--notify URL does not parse"):
        notify("http://[::1/services/x", _unhealthy(), tmp_path, "here")
