"""pyaviso 1.0.1 and this package on one etcd, through their Python APIs: a notification from
one reaches a listener of the other, in both directions, as the same notification dict."""

import json
import sys
import textwrap
from datetime import datetime, timedelta, timezone

from aviso import NotificationManager
from aviso.user_config import UserConfig

from conftest import pyaviso_python, run_python, wait_until


def expected(number: str) -> dict:
    return {
        "event": "flight",
        "request": {"date": "20210101", "country": "italy", "airport": "FCO", "number": number},
        "payload": f"Landed {number}",
    }


def a_minute_ago() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=1)


def test_a_notification_from_pyaviso_reaches_a_function_trigger_here(etcd, home):
    # pyaviso 1.0.1 speaks to etcd through its gateway (etcd_rest); this package through gRPC.
    home.use_etcd(etcd, engine="etcd_rest")
    sent = run_python(
        pyaviso_python(),
        textwrap.dedent(
            """
            from pyaviso import NotificationManager
            NotificationManager().notify({"event": "flight", "country": "Italy", "date": "20210101",
                                          "airport": "fco", "number": "PY101", "payload": "Landed PY101"})
            """
        ),
        home,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr

    received = []
    config = UserConfig(notification_engine={"type": "etcd_grpc"})
    manager = NotificationManager()
    listeners = {
        "listeners": [
            {"event": "flight", "request": {"country": "italy", "number": "PY101"},
             "triggers": [{"type": "function", "function": received.append}]}
        ]
    }
    assert manager._listen(config, listeners=listeners, from_date=a_minute_ago()) == 1
    try:
        wait_until(lambda: received, "pyaviso's notification")
    finally:
        manager.listener_manager.cancel_listeners()
    assert received == [expected("PY101")]
    assert list(received[0]) == ["event", "request", "payload"]
    assert list(received[0]["request"]) == ["date", "country", "airport", "number"]


def test_a_notification_from_here_reaches_a_pyaviso_function_trigger(etcd, home, scripts):
    home.use_etcd(etcd, engine="etcd_rest")
    listening = scripts(
        textwrap.dedent(
            """
            import json, time
            from datetime import datetime, timedelta
            from pyaviso import NotificationManager
            from pyaviso.user_config import UserConfig

            def show(notification):
                print("RECEIVED " + json.dumps(notification), flush=True)

            listeners = {"listeners": [{"event": "flight", "request": {"number": "RS202"},
                                        "triggers": [{"type": "function", "function": show}]}]}
            manager = NotificationManager()
            manager._listen(UserConfig(), listeners=listeners,
                            from_date=datetime.utcnow() - timedelta(minutes=1))
            print("STARTED", flush=True)
            time.sleep(600)
            """
        ),
        home,
        python=pyaviso_python(),
    )
    listening.wait_for("STARTED")
    notification = {"event": "flight", "country": "ITALY", "date": 20210101, "airport": "fco",
                    "number": "RS202", "payload": "Landed RS202"}
    assert NotificationManager().notify(notification, UserConfig(notification_engine={"type": "etcd_grpc"}))
    # As pyaviso's, notify takes the payload out of the caller's dict.
    assert "payload" not in notification
    output = listening.wait_for("RECEIVED ")
    lines = [line for line in output.splitlines() if line.startswith("RECEIVED ")]
    assert [json.loads(line[len("RECEIVED "):]) for line in lines] == [expected("RS202")]


def test_both_write_the_same_key_and_read_each_others_values(etcd, home):
    home.use_etcd(etcd, engine="etcd_rest")
    parameters = {"event": "flight", "country": "italy", "date": "20210102", "airport": "MXP", "number": "KV303"}
    theirs = run_python(
        pyaviso_python(),
        textwrap.dedent(
            f"""
            import json
            from pyaviso import NotificationManager
            manager = NotificationManager()
            parameters = {parameters!r}
            key = manager.key(dict(parameters))
            manager.notify(dict(parameters, payload="from pyaviso"))
            print(json.dumps([list(key), manager.value(dict(parameters))]))
            """
        ),
        home,
    )
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    their_key, their_value = json.loads(theirs.stdout.strip().splitlines()[-1])
    manager = NotificationManager()
    assert list(manager.key(dict(parameters))) == their_key
    assert manager.value(dict(parameters)) == their_value == "from pyaviso"
    manager.notify(dict(parameters, payload="from here"))
    again = run_python(
        pyaviso_python(),
        f"from pyaviso import NotificationManager\nprint(NotificationManager().value({parameters!r}))",
        home,
    )
    assert again.stdout.strip().splitlines()[-1] == "from here", again.stdout + again.stderr
    assert sys.executable != pyaviso_python()
