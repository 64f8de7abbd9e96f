"""What the Python package's tests share: a real etcd on a free loopback port (Debian's
etcd-server, stopped by PID), a private home per test, the example scripts, and pyaviso 1.0.1
from PyPI (its own venv, from scripts/pyaviso.sh) as the reference."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLES = REPOSITORY / "examples" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, what: str, limit: float = 60.0, step: float = 0.05):
    """Waits for `condition()` to be true; fails naming `what` after `limit` seconds (a
    liveness bound only: nothing here measures speed)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


class Etcd:
    def __init__(self):
        self.port = free_port()
        peer = free_port()
        self.dir = tempfile.mkdtemp(prefix="aviso-python-etcd-")
        client = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                "etcd",
                "--data-dir", os.path.join(self.dir, "data"),
                "--name", "member0",
                "--listen-client-urls", client,
                "--advertise-client-urls", client,
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", f"member0=http://127.0.0.1:{peer}",
                "--initial-cluster-state", "new",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "etcd.log"), "w"),
        )
        wait_until(self.ready, "etcd to start")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                return json.load(r).get("health") == "true"
        except OSError:
            return False

    def stop(self):
        os.kill(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def etcd():
    server = Etcd()
    yield server
    server.stop()


class Home:
    """A private home: `~/.aviso/config.yaml` written by the test, state under it."""

    def __init__(self, path: Path):
        self.path = path
        (path / ".aviso").mkdir(parents=True, exist_ok=True)

    def configure(self, text: str) -> Path:
        config = self.path / ".aviso" / "config.yaml"
        config.write_text(textwrap.dedent(text))
        return config

    def use_etcd(self, etcd: Etcd, engine: str = "etcd_grpc") -> Path:
        return self.configure(
            f"""
            notification_engine:
              host: 127.0.0.1
              port: {etcd.port}
              type: {engine}
              polling_interval: 1
            configuration_engine:
              host: 127.0.0.1
              port: {etcd.port}
            """
        )

    def use_embedded_store(self) -> Path:
        return self.configure(
            """
            notification_engine:
              type: file_based
              polling_interval: 1
            """
        )

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AVISO_")}
        env["HOME"] = str(self.path)
        env["PYTHONUNBUFFERED"] = "1"
        return env


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private home for this test, also for the code that runs in the test's own process."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    for name in list(os.environ):
        if name.startswith("AVISO_"):
            monkeypatch.delenv(name)
    return Home(path)


def pyaviso_python() -> str:
    """pyaviso 1.0.1's interpreter (its venv holds the `aviso` script PYAVISO_BIN names)."""
    script = os.environ.get("PYAVISO_BIN")
    if not script:
        pytest.fail("PYAVISO_BIN is not set: run the tests with scripts/test.sh (or bash scripts/python-tests.sh)")
    return str(Path(script).parent / "python")


def with_ctrl_c():
    """For a child process: Ctrl-C (SIGINT) as a terminal delivers it. A shell that runs the
    tests in the background (`nohup ... &`, some CI runners) starts them with SIGINT ignored,
    the children inherit that, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Script:
    """A Python program running in the background, its output collected line by line."""

    def __init__(self, python: str, source: str, env: dict, cwd: Path):
        self.log = cwd / f"script-{time.monotonic_ns()}.out"
        self.output = open(self.log, "w")
        self.process = subprocess.Popen(
            [python, "-c", source],
            env=env,
            cwd=cwd,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            preexec_fn=with_ctrl_c,
        )

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, limit: float = 120.0) -> str:
        def seen():
            if text in self.text():
                return True
            if self.process.poll() is not None:
                raise AssertionError(f"the script ended ({self.process.returncode}) before saying {text!r}:\n{self.text()}")
            return False

        wait_until(seen, f"{text!r} from the script", limit)
        return self.text()

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; returns the exit code."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.output.close()

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.output.close()


@pytest.fixture
def scripts(tmp_path):
    started = []

    def start(source: str, home: Home, python: str = sys.executable) -> Script:
        script = Script(python, source, home.environment(), tmp_path)
        started.append(script)
        return script

    yield start
    for script in started:
        script.stop()


def run_python(python: str, source: str, home: Home, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-c", source],
        env=home.environment(),
        cwd=home.path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
