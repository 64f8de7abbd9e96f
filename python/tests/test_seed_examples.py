"""The seed's Python examples (examples/python/), run as written against etcd and against the
embedded store: a listening script, the notify script, and Ctrl-C to stop the listen."""

import sys

import pytest

from conftest import EXAMPLES, run_python, wait_until


@pytest.fixture(params=["etcd", "embedded store"])
def configured_home(request, home):
    if request.param == "etcd":
        home.use_etcd(request.getfixturevalue("etcd"))
    else:
        home.use_embedded_store()
    return home


def notify_as_written(home):
    done = run_python(sys.executable, (EXAMPLES / "notify.py").read_text(), home)
    assert done.returncode == 0, done.stdout + done.stderr


def stop_with_ctrl_c(listening):
    code = listening.interrupt()
    output = listening.text()
    assert "KeyboardInterrupt" in output, output
    # Python ends an uninterrupted KeyboardInterrupt by the signal itself.
    assert code in (-2, 130), (code, output)


def test_the_listen_example_calls_the_function_with_the_notification(configured_home, scripts):
    listening = scripts((EXAMPLES / "listen_number.py").read_text(), configured_home)
    listening.wait_for("Listening to /tmp/aviso/flight/")
    notify_as_written(configured_home)
    listening.wait_for("Notification for step AZ203 received")
    stop_with_ctrl_c(listening)


@pytest.mark.parametrize("example", ["listen.py", "listen_capitalised.py"])
def test_an_example_whose_function_fails_reports_it_and_goes_on_listening(configured_home, scripts, example):
    # The seed's function reads `step`, which flights do not have: each call raises KeyError.
    listening = scripts((EXAMPLES / example).read_text(), configured_home)
    listening.wait_for("Listening to /tmp/aviso/flight/")
    notify_as_written(configured_home)
    output = listening.wait_for("KeyError")
    assert "'step'" in output, output
    # Still listening: the next notification reaches the function too.
    notify_as_written(configured_home)
    wait_until(lambda: listening.text().count("KeyError") >= 2, "a second failed call")
    stop_with_ctrl_c(listening)
