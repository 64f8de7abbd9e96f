"""The other trigger types from a Python listener dict: log, command and post (to a real HTTP
server on loopback) run as the core's sandboxed plugins, next to a function trigger."""

import http.server
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from aviso import NotificationManager
from aviso.user_config import UserConfig

from conftest import wait_until


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def a_minute_ago() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=1)


@pytest.fixture
def endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_log_command_and_post_triggers_run_from_a_python_listener(home, tmp_path, endpoint):
    home.use_embedded_store()
    log = tmp_path / "flights.log"
    seen = tmp_path / "seen.txt"
    called = []
    listeners = {
        "listeners": [
            {
                "event": "flight",
                "request": {"country": "italy", "date": 20310301},
                "triggers": [
                    {"type": "function", "function": called.append},
                    {"type": "log", "path": str(log)},
                    {"type": "command", "command": f"echo ${{request.number}} ${{payload}} >> {seen}"},
                    {"type": "post", "protocol": {"type": "cloudevents_http", "url": endpoint}},
                ],
            }
        ]
    }
    manager = NotificationManager()
    config = UserConfig()
    try:
        # From a minute ago: what is written while it starts is delivered too.
        assert manager._listen(config, listeners=listeners, from_date=a_minute_ago()) == 1
        notification = {"event": "flight", "country": "Italy", "date": "20310301", "airport": "fco",
                        "number": "PT1", "payload": "Landed; rm -rf /"}
        manager.notify(dict(notification), config)
        wait_until(lambda: called, "the function trigger", limit=120)
        wait_until(lambda: seen.exists() and "PT1" in seen.read_text(), "the command trigger", limit=120)
        wait_until(lambda: Receiver.received, "the post trigger", limit=120)
        wait_until(lambda: log.exists() and "PT1" in log.read_text(), "the log trigger", limit=120)
    finally:
        manager.listener_manager.cancel_listeners()
    # The payload is data for the command, never shell code.
    assert seen.read_text().strip() == "PT1 Landed; rm -rf /"
    headers, body = Receiver.received[0]
    event = json.loads(body)
    assert event["data"] == called[0] == {
        "event": "flight",
        "request": {"date": "20310301", "country": "italy", "airport": "FCO", "number": "PT1"},
        "payload": "Landed; rm -rf /",
    }
    assert event["specversion"] == "1.0"
