"""`function` triggers and listening from Python: what a callable receives and when, what
happens when it fails, is slow or is not a callable, how `listen` and `_listen` start, block,
replay and stop. On the embedded store, and on etcd where the store matters (ordering, replay).

Each test listens to its own flights: on etcd (shared by the session) a date of its own."""

import json
import logging
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from aviso import NotificationManager
from aviso.custom_exceptions import EventListenerException
from aviso.user_config import UserConfig

from conftest import pyaviso_python, run_python, wait_until


class Messages(logging.Handler):
    """What the library says through `logging` (logger `aviso` and its children)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.guard = threading.Lock()
        self.lines = []

    def emit(self, record):
        with self.guard:
            self.lines.append(f"{record.levelname} {record.getMessage()}")

    def text(self) -> str:
        with self.guard:
            return "\n".join(self.lines)

    def count(self, text: str) -> int:
        with self.guard:
            return sum(text in line for line in self.lines)


@pytest.fixture
def messages():
    handler = Messages()
    logger = logging.getLogger("aviso")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def manager():
    manager = NotificationManager()
    yield manager
    manager.listener_manager.cancel_listeners()


@pytest.fixture(params=["embedded store", "etcd"])
def store(request, home):
    """The home configured for the embedded store or for the session's etcd."""
    if request.param == "etcd":
        home.use_etcd(request.getfixturevalue("etcd"))
    else:
        home.use_embedded_store()
    return request.param


@pytest.fixture
def embedded(home):
    home.use_embedded_store()


def flight(date: str, number: str, payload=None) -> dict:
    """A notification as notify() takes it."""
    notification = {"event": "flight", "country": "Italy", "date": date, "airport": "fco", "number": number}
    if payload is not None:
        notification["payload"] = payload
    return notification


def received(date: str, number: str, payload=None) -> dict:
    """The same notification as pyaviso gives it to a function: key fields as strings, in the
    schema's order (date, country, airport, number), the payload only if there was one."""
    notification = {
        "event": "flight",
        "request": {"date": date, "country": "italy", "airport": "FCO", "number": number},
    }
    if payload is not None:
        notification["payload"] = payload
    return notification


def listening_to(date: str, *triggers, **request) -> dict:
    return {"listeners": [{"event": "flight", "request": {"date": date, **request}, "triggers": list(triggers)}]}


def start(manager, messages, listeners, config=None) -> int:
    """`_listen`, then waits until the store is watched (what is written before that is not
    for this listening)."""
    before = messages.count("Listening to /tmp/aviso/flight/")
    count = manager._listen(config or UserConfig(), listeners=listeners)
    wait_until(lambda: messages.count("Listening to /tmp/aviso/flight/") > before, "the listening to start")
    return count


def numbers(calls) -> list:
    return [call["request"]["number"] for call in calls]


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# A callable that fails, is slow, takes the wrong arguments.


def test_a_function_that_raises_is_reported_and_the_next_notification_still_reaches_it(store, manager, messages):
    date = "20310101"
    calls = []

    def fails_once(notification):
        calls.append(notification)
        if len(calls) == 1:
            raise ValueError(f"cannot handle flight {notification['request']['number']}")

    config = UserConfig()
    start(manager, messages, listening_to(date, {"type": "function", "function": fails_once}), config)
    manager.notify(flight(date, "RA1", "first"), config)
    manager.notify(flight(date, "RA2", "second"), config)
    wait_until(lambda: len(calls) == 2, "both notifications to reach the function")
    wait_until(lambda: messages.count("/tmp/aviso/flight/20310101/italy/FCO/RA2") > 0, "the second outcome")
    assert calls == [received(date, "RA1", "first"), received(date, "RA2", "second")]
    log = messages.text()
    assert "the function raised ValueError: cannot handle flight RA1" in log, log
    failed = [line for line in messages.lines if "/FCO/RA1 " in line and "trigger(s) run" in line]
    assert len(failed) == 1 and "1 failed" in failed[0], failed
    succeeded = [line for line in messages.lines if "/FCO/RA2 " in line and "trigger(s) run" in line]
    assert len(succeeded) == 1 and "all succeeded" in succeeded[0], succeeded
    assert "ValueError" not in "\n".join(line for line in messages.lines if "RA2" in line)
    # The failure is an error message; the listening goes on (nothing is raised to the program).
    assert any(line.startswith("ERROR") and "ValueError" in line for line in messages.lines), log
    assert all(listening.running() for listening in manager.listener_manager.listeners)


def test_a_slow_function_is_stopped_after_its_time_limit_and_later_notifications_arrive(embedded, manager, messages):
    date = "20310102"
    release = threading.Event()
    calls = []

    def slow_first(notification):
        calls.append(notification["request"]["number"])
        if notification["request"]["number"] == "SL1":
            release.wait()

    config = UserConfig()
    try:
        start(
            manager,
            messages,
            listening_to(date, {"type": "function", "function": slow_first, "timeout": 1}),
            config,
        )
        manager.notify(flight(date, "SL1"), config)
        manager.notify(flight(date, "SL2"), config)
        manager.notify(flight(date, "SL3"), config)
        wait_until(lambda: calls == ["SL1", "SL2", "SL3"], "the later notifications, while the first call still runs")
        # SL1's call has not returned, and was given up after its time limit.
        assert not release.is_set()
        wait_until(lambda: messages.count("/FCO/SL3 ") > 0, "SL3's outcome")
        log = messages.text()
        assert "Trigger function could not be executed: stopped after the time limit of 1s" in log, log
        outcome = [line for line in messages.lines if "/FCO/SL1 " in line and "trigger(s) run" in line]
        assert len(outcome) == 1 and "1 failed" in outcome[0], outcome
        for number in ("SL2", "SL3"):
            outcome = [line for line in messages.lines if f"/FCO/{number} " in line and "trigger(s) run" in line]
            assert len(outcome) == 1 and "all succeeded" in outcome[0], outcome
    finally:
        release.set()


@pytest.mark.parametrize(
    "function",
    [lambda: None, lambda notification, extra: None, lambda *, notification: None],
    ids=["no argument", "two arguments", "keyword only"],
)
def test_a_function_taking_the_wrong_arguments_fails_each_call_and_the_next_trigger_still_runs(
    embedded, manager, messages, function
):
    date = "20310103"
    calls = []
    config = UserConfig()
    triggers = [{"type": "function", "function": function}, {"type": "function", "function": calls.append}]
    start(manager, messages, listening_to(date, *triggers), config)
    manager.notify(flight(date, "WA1"), config)
    manager.notify(flight(date, "WA2"), config)
    wait_until(lambda: len(calls) == 2, "the second trigger to be called for both")
    wait_until(lambda: messages.count("/FCO/WA2 ") > 0, "WA2's outcome")
    assert calls == [received(date, "WA1"), received(date, "WA2")]
    assert messages.count("the function raised TypeError") == 2, messages.text()
    outcomes = [line for line in messages.lines if "trigger(s) run" in line]
    assert len(outcomes) == 2 and all("2 trigger(s) run, 1 failed" in line for line in outcomes), outcomes


# What is not a function trigger is refused before anything starts.


@pytest.mark.parametrize("value", [42, "print", {"name": "print"}], ids=["int", "str", "dict"])
@pytest.mark.parametrize("how", ["_listen", "listen"])
def test_a_function_that_is_not_callable_is_a_type_error_before_anything_starts(embedded, manager, messages, how, value):
    listeners = {
        "listeners": [
            {"event": "flight", "request": {"date": "20310104"}, "triggers": [{"type": "echo"}]},
            {
                "event": "flight",
                "request": {"date": "20310104"},
                "triggers": [{"type": "echo"}, {"type": "function", "function": value}],
            },
        ]
    }
    with pytest.raises(TypeError) as raised:
        getattr(manager, how)(UserConfig(), listeners=listeners)
    message = str(raised.value)
    assert "Listener 2, trigger 2" in message, message
    assert "'function' must be a callable" in message and type(value).__name__ in message, message
    assert manager.listener_manager.listeners == []


@pytest.mark.parametrize("trigger", [{"type": "function"}, {"type": "Function", "function": None}], ids=["absent", "None"])
@pytest.mark.parametrize("how", ["_listen", "listen"])
def test_a_function_trigger_without_function_is_refused(embedded, manager, how, trigger):
    with pytest.raises(EventListenerException) as raised:
        getattr(manager, how)(UserConfig(), listeners=listening_to("20310105", trigger))
    assert "'function' is a mandatory field for the 'Function' trigger" in str(raised.value)
    assert manager.listener_manager.listeners == []


def test_a_function_trigger_in_the_configurations_listeners(embedded, manager, messages):
    # pyaviso's listen(config) without listeners takes config.listeners, functions included.
    date = "20310120"
    calls = []
    config = UserConfig(
        listeners=[{"event": "flight", "request": {"date": date}, "triggers": [{"type": "function", "function": calls.append}]}]
    )
    before = messages.count("Listening to /tmp/aviso/flight/")
    assert manager._listen(config) == 1
    wait_until(lambda: messages.count("Listening to /tmp/aviso/flight/") > before, "the listening to start")
    manager.notify(flight(date, "UC1", "from the configuration"), config)
    wait_until(lambda: calls, "the notification")
    assert calls == [received(date, "UC1", "from the configuration")]


# Delivery: every notification, once, in order, as pyaviso builds it.


def test_200_notifications_reach_the_function_once_each_in_order_as_pyaviso_builds_them(store, manager, messages):
    date = "20310106" if store == "etcd" else "20310107"
    calls = []
    config = UserConfig()
    start(manager, messages, listening_to(date, {"type": "function", "function": calls.append}), config)
    sent = []
    for i in range(200):
        number = f"N{i:03d}"
        if i % 10 == 0:
            manager.notify(flight(date, number), config)
            sent.append(received(date, number))
        elif i % 10 == 1:
            text = f"Atterrato à {i}\n{{\"gate\": {i}}}"
            manager.notify(flight(date, number, text), config)
            sent.append(received(date, number, text))
        else:
            manager.notify(flight(date, number, f"payload {i}"), config)
            sent.append(received(date, number, f"payload {i}"))
    # One more after them: when it has arrived, every earlier one has had its chance to repeat.
    manager.notify(flight(date, "LAST", "end"), config)
    wait_until(lambda: calls and calls[-1]["request"]["number"] == "LAST", "the last notification")
    assert calls[:-1] == sent
    assert len(calls) == 201
    for call in calls:
        assert list(call) == (["event", "request", "payload"] if "payload" in call else ["event", "request"])
        assert list(call["request"]) == ["date", "country", "airport", "number"]
        assert all(type(value) is str for value in call["request"].values())
    assert sum("payload" not in call for call in calls) == 20


def test_a_function_trigger_next_to_an_echo_trigger(embedded, home, scripts):
    date = "20310108"
    listening = scripts(
        textwrap.dedent(
            f"""
            import json
            from aviso import NotificationManager

            def show(notification):
                print("FUNCTION " + json.dumps(notification), flush=True)
                if notification["request"]["number"] == "EF1":
                    raise KeyError("step")

            listeners = {{"listeners": [{{"event": "flight", "request": {{"date": "{date}"}},
                                         "triggers": [{{"type": "function", "function": show}}, {{"type": "echo"}}]}}]}}
            NotificationManager().listen(listeners=listeners)
            """
        ),
        home,
    )
    listening.wait_for("Listening to /tmp/aviso/flight/")
    sent = run_python(
        sys.executable,
        textwrap.dedent(
            f"""
            from aviso import NotificationManager
            manager = NotificationManager()
            manager.notify({flight(date, "EF1", "one")!r})
            manager.notify({flight(date, "EF2")!r})
            """
        ),
        home,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    listening.wait_for("/FCO/EF2 (revision")
    output = listening.text()
    # Each notification: the function's line, then the echo's JSON (pyaviso's format); the
    # function raising for EF1 does not keep the echo from running.
    first = json.dumps(received(date, "EF1", "one"))
    second = json.dumps(received(date, "EF2"))
    echo_first = json.dumps(received(date, "EF1", "one"), indent=4, sort_keys=True)
    echo_second = json.dumps(received(date, "EF2"), indent=4, sort_keys=True)
    positions = [output.find(text) for text in ("FUNCTION " + first, echo_first, "FUNCTION " + second, echo_second)]
    assert -1 not in positions and positions == sorted(positions), output
    assert output.count(echo_first) == 1 and output.count(echo_second) == 1, output
    assert "the function raised KeyError: 'step'" in output, output
    assert "2 trigger(s) run, 1 failed" in output and "2 trigger(s) run, all succeeded" in output, output
    assert listening.interrupt() in (-2, 130)


# listen, _listen, cancel_listeners.


def test_listen_lets_other_python_threads_run_and_returns_none_when_cancelled(embedded, home):
    date = "20310109"
    done = run_python(
        sys.executable,
        textwrap.dedent(
            f"""
            import json, logging, threading, time
            from aviso import NotificationManager

            started = threading.Event()

            class Started(logging.Handler):
                def emit(self, record):
                    if record.getMessage().startswith("Listening to"):
                        started.set()

            logging.getLogger("aviso").addHandler(Started())
            manager = NotificationManager()
            calls = []
            state = {{"inside": False, "ticks": 0}}
            report = {{}}

            def other():
                # Runs Python while the main thread is inside listen.
                assert started.wait(120)
                report["inside at start"] = state["inside"]
                for number in ("GI1", "GI2", "GI3"):
                    manager.notify({{"event": "flight", "country": "italy", "date": "{date}", "airport": "fco", "number": number}})
                deadline = time.monotonic() + 120
                while len(calls) < 3 and time.monotonic() < deadline:
                    state["ticks"] += 1
                    time.sleep(0.01)
                report["inside at end"] = state["inside"]
                report["calls"] = list(calls)
                report["ticks"] = state["ticks"]
                manager.listener_manager.cancel_listeners()

            thread = threading.Thread(target=other)
            thread.start()
            state["inside"] = True
            listeners = {{"listeners": [{{"event": "flight", "request": {{"date": "{date}"}},
                                         "triggers": [{{"type": "function", "function": calls.append}}]}}]}}
            result = manager.listen(listeners=listeners)
            state["inside"] = False
            thread.join()
            report["returned"] = repr(result)
            print("REPORT " + json.dumps(report), flush=True)
            """
        ),
        home,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.split("REPORT ", 1)[1])
    assert report["returned"] == "None"
    assert report["inside at start"] is True and report["inside at end"] is True
    assert numbers(report["calls"]) == ["GI1", "GI2", "GI3"]
    assert report["ticks"] >= 1


def test__listen_returns_the_number_of_listeners_at_once_and_cancel_listeners_stops_them(embedded, manager, messages):
    date = "20310110"
    first, witness = [], []
    config = UserConfig()
    three = {
        "listeners": [
            {"event": "flight", "request": {"date": date, "number": "CA1"}, "triggers": [{"type": "function", "function": first.append}]},
            {"event": "flight", "request": {"date": date, "number": "CA2"}, "triggers": [{"type": "function", "function": first.append}]},
            {"event": "flight", "request": {"date": date}, "triggers": [{"type": "function", "function": first.append}]},
        ]
    }
    assert start(manager, messages, three, config) == 3
    manager.notify(flight(date, "CA1"), config)
    wait_until(lambda: len(first) == 2, "CA1 to reach two listeners")
    assert numbers(first) == ["CA1", "CA1"]

    manager.listener_manager.cancel_listeners()
    assert manager.listener_manager.listeners == []
    # A new listening, as a witness: what it receives after the cancel, the cancelled ones do not.
    assert start(manager, messages, listening_to(date, {"type": "function", "function": witness.append}), config) == 1
    manager.notify(flight(date, "CA2"), config)
    wait_until(lambda: numbers(witness) == ["CA2"], "the witness to receive CA2")
    assert numbers(first) == ["CA1", "CA1"]


def test__listen_counts_the_listeners_of_the_manager_as_pyaviso(etcd, home):
    # pyaviso's _listen returns how many listeners its manager runs, earlier calls' included.
    home.use_etcd(etcd, engine="etcd_rest")
    source = textwrap.dedent(
        """
        import json, os
        from {module} import NotificationManager
        from {module}.user_config import UserConfig

        def listeners(count):
            return {{"listeners": [{{"event": "flight", "request": {{"date": "20310111"}}, "triggers": [{{"type": "echo"}}]}}] * count}}

        config = UserConfig({engine})
        manager = NotificationManager()
        counts = [manager._listen(config, listeners=listeners(2)), manager._listen(config, listeners=listeners(1))]
        manager.listener_manager.cancel_listeners()
        counts.append(manager._listen(config, listeners=listeners(1)))
        manager.listener_manager.cancel_listeners()
        print("COUNTS " + json.dumps(counts), flush=True)
        os._exit(0)
        """
    )
    theirs = run_python(pyaviso_python(), source.format(module="pyaviso", engine=""), home)
    assert "COUNTS " in theirs.stdout, theirs.stdout + theirs.stderr
    ours = run_python(sys.executable, source.format(module="aviso", engine="notification_engine={'type': 'etcd_grpc'}"), home)
    assert "COUNTS " in ours.stdout, ours.stdout + ours.stderr
    assert json.loads(theirs.stdout.split("COUNTS ", 1)[1]) == [2, 3, 1]
    assert json.loads(ours.stdout.split("COUNTS ", 1)[1]) == [2, 3, 1]


# Replays.


def test_a_replay_delivers_its_window_and_listen_returns_none(store, manager, messages):
    date = "20310112" if store == "etcd" else "20310113"
    config = UserConfig()
    manager.notify(flight(date, "RP0", "before"), config)
    # Clock readings a second apart, so that the window's ends fall between the notifications.
    time.sleep(1.1)
    from_date = utc_now()
    time.sleep(1.1)
    for number in ("RP1", "RP2", "RP3"):
        manager.notify(flight(date, number, f"in {number}"), config)
    time.sleep(1.1)
    to_date = utc_now()
    time.sleep(1.1)
    manager.notify(flight(date, "RP4", "after"), config)
    calls = []
    listeners = listening_to(date, {"type": "function", "function": calls.append})
    assert manager.listen(config, listeners=listeners, from_date=from_date, to_date=to_date) is None
    assert calls == [received(date, number, f"in {number}") for number in ("RP1", "RP2", "RP3")]
    assert manager.listener_manager.listeners == []


def test_a_replay_started_by__listen_ends_by_itself(embedded, manager, messages):
    date = "20310114"
    config = UserConfig()
    from_date = utc_now() - timedelta(minutes=1)
    for number in ("RL1", "RL2"):
        manager.notify(flight(date, number), config)
    time.sleep(1.1)
    to_date = utc_now()
    calls = []
    listeners = listening_to(date, {"type": "function", "function": calls.append})
    assert manager._listen(config, listeners=listeners, from_date=from_date, to_date=to_date) == 1
    wait_until(lambda: not any(l.running() for l in manager.listener_manager.listeners), "the replay to end")
    assert calls == [received(date, "RL1"), received(date, "RL2")]


# pyaviso's checks of the dates, before anything starts.

DATE_CHECKS = [
    ("from_date in the future", "dict(from_date=now + timedelta(hours=1))", "from_date must be in the past"),
    ("to_date in the future", "dict(from_date=now - timedelta(hours=2), to_date=now + timedelta(hours=1))", "to_date must be in the past"),
    ("to_date without from_date", "dict(to_date=now - timedelta(hours=1))", "from_date is required if to_date is defined"),
    ("to_date before from_date", "dict(from_date=now - timedelta(hours=1), to_date=now - timedelta(hours=2))", "to_date must be later than from_date"),
    ("to_date equal to from_date", "dict(from_date=now - timedelta(hours=1), to_date=now - timedelta(hours=1))", "to_date must be later than from_date"),
    ("now and catchup", "dict(now=True, catchup=True)", "Only now or catchup can be specified at the same time"),
]


def test_the_date_checks_are_pyavisos(embedded, home):
    source = textwrap.dedent(
        """
        import json
        from datetime import datetime, timedelta
        from {module} import NotificationManager

        listeners = {{"listeners": [{{"event": "flight", "request": {{"date": "20310115"}}, "triggers": [{{"type": "echo"}}]}}]}}
        now = datetime.utcnow()
        results = []
        manager = NotificationManager()
        for arguments in [{checks}]:
            try:
                manager.listen(listeners=listeners, **arguments)
                results.append("returned")
            except AssertionError as e:
                results.append(str(e))
        results.append(len(manager.listener_manager.listeners))
        print("RESULTS " + json.dumps(results), flush=True)
        """
    )
    checks = ", ".join(check for _, check, _ in DATE_CHECKS)
    expected = [message for _, _, message in DATE_CHECKS] + [0]
    for python, module in ((pyaviso_python(), "pyaviso"), (sys.executable, "aviso")):
        done = run_python(python, source.format(module=module, checks=checks), home)
        assert "RESULTS " in done.stdout, (module, done.stdout + done.stderr)
        assert json.loads(done.stdout.split("RESULTS ", 1)[1]) == expected, module


@pytest.mark.parametrize("name,check,message", DATE_CHECKS, ids=[c[0] for c in DATE_CHECKS])
def test_a_date_check_fails_before_anything_starts(embedded, manager, name, check, message):
    now = utc_now()
    arguments = eval(check, {"now": now, "timedelta": timedelta, "dict": dict})
    calls = []
    with pytest.raises(AssertionError) as raised:
        manager.listen(listeners=listening_to("20310116", {"type": "function", "function": calls.append}), **arguments)
    assert str(raised.value) == message
    assert manager.listener_manager.listeners == []


# A listening that cannot start is said.


def test_a_trigger_setting_that_cannot_be_used_is_refused_by__listen(embedded, manager):
    # Triggers are loaded before _listen returns: a bad setting is an exception, not a listening
    # that ends silently on its thread.
    listeners = listening_to("20310117", {"type": "function", "function": print, "timeout": -1})
    with pytest.raises(EventListenerException) as refused:
        manager._listen(UserConfig(), listeners=listeners)
    assert "listener 1" in str(refused.value) and "timeout must be a positive number" in str(refused.value)
    assert manager.listener_manager.listeners == []


# Where pyaviso 1.0.1 behaves otherwise (pyaviso speaks to etcd through its gateway).


def test_pyaviso_takes_a_function_trigger_it_cannot_call_until_a_notification_comes(etcd, home, manager):
    # pyaviso builds a listener's triggers for each notification: _listen accepts a function
    # trigger without function, or with one that is not callable, and each notification then
    # logs the error. Here both are refused by _listen, before anything starts.
    home.use_etcd(etcd, engine="etcd_rest")
    source = textwrap.dedent(
        """
        import json, os
        from pyaviso import NotificationManager
        from pyaviso.user_config import UserConfig

        results = []
        for trigger in ({"type": "function"}, {"type": "function", "function": 42}):
            manager = NotificationManager()
            listeners = {"listeners": [{"event": "flight", "request": {"date": "20310118"}, "triggers": [trigger]}]}
            try:
                results.append(manager._listen(UserConfig(), listeners=listeners))
            except Exception as e:
                results.append(type(e).__name__)
            manager.listener_manager.cancel_listeners()
        print("RESULTS " + json.dumps(results), flush=True)
        os._exit(0)
        """
    )
    theirs = run_python(pyaviso_python(), source, home)
    assert "RESULTS " in theirs.stdout, theirs.stdout + theirs.stderr
    assert json.loads(theirs.stdout.split("RESULTS ", 1)[1]) == [1, 1]
    config = UserConfig(notification_engine={"type": "etcd_grpc"})
    with pytest.raises(EventListenerException):
        manager._listen(config, listeners=listening_to("20310118", {"type": "function"}))
    with pytest.raises(TypeError):
        manager._listen(config, listeners=listening_to("20310118", {"type": "function", "function": 42}))
    assert manager.listener_manager.listeners == []


def test_a_failing_function_stops_the_later_triggers_in_pyaviso_not_here(etcd, home, scripts, manager, messages):
    date = "20310119"
    home.use_etcd(etcd, engine="etcd_rest")
    theirs = scripts(
        textwrap.dedent(
            f"""
            import time
            from datetime import datetime, timedelta
            from pyaviso import NotificationManager
            from pyaviso.user_config import UserConfig

            def fails(notification):
                raise KeyError("step")

            def after(notification):
                print("AFTER " + notification["request"]["number"], flush=True)

            listeners = {{"listeners": [{{"event": "flight", "request": {{"date": "{date}"}},
                                         "triggers": [{{"type": "function", "function": fails}},
                                                      {{"type": "function", "function": after}}]}}]}}
            NotificationManager()._listen(UserConfig(), listeners=listeners,
                                          from_date=datetime.utcnow() - timedelta(minutes=1))
            print("STARTED", flush=True)
            time.sleep(600)
            """
        ),
        home,
        python=pyaviso_python(),
    )
    theirs.wait_for("STARTED")
    calls = []
    config = UserConfig(notification_engine={"type": "etcd_grpc"})

    def fails(notification):
        raise KeyError("step")

    triggers = [{"type": "function", "function": fails}, {"type": "function", "function": calls.append}]
    start(manager, messages, listening_to(date, *triggers), config)
    manager.notify(flight(date, "FS1"), config)
    # pyaviso: the error, and the second trigger never runs for that notification.
    output = theirs.wait_for("could not be executed")
    assert "'step'" in output and "AFTER" not in output, output
    # Here: the error, and the second trigger runs.
    wait_until(lambda: numbers(calls) == ["FS1"], "the second trigger here")
    assert "the function raised KeyError: 'step'" in messages.text()
