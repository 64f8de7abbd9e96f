"""The package as installed: pyaviso 1.x's names under `pyaviso` and `aviso`, the `pyaviso`
alias giving way to a real pyaviso (ECMWF's 2.x client, from PyPI), and the example script."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPOSITORY, pyaviso_python, with_ctrl_c

PYAVISO_NAMES = textwrap.dedent(
    """
    import pyaviso
    from pyaviso import NotificationManager, logger, HOME_FOLDER, SYSTEM_FOLDER, exit_channel, user_config
    from pyaviso.notification_manager import NotificationManager as Manager
    from pyaviso.user_config import UserConfig, EngineConfig, KEY_FILE, CONF_FILE
    from pyaviso.engine import EngineType
    from pyaviso.engine.engine_factory import EngineType as FactoryEngineType
    from pyaviso.authentication import AuthType
    from pyaviso.event_listeners.listener_schema_parser import ListenerSchemaParserType
    from pyaviso.custom_exceptions import (InvalidInputError, TriggerException, EventListenerException,
        EngineException, EngineHistoryNotAvailableError, ServiceConfigException)
    assert Manager is NotificationManager and FactoryEngineType is EngineType
    assert issubclass(EngineHistoryNotAvailableError, EngineException)
    assert logger.name == "aviso" and HOME_FOLDER == "~/.aviso" and SYSTEM_FOLDER == "/etc/aviso"
    assert [e.name for e in EngineType] == ["ETCD_GRPC", "ETCD_REST", "FILE_BASED"]
    assert [e.name for e in AuthType] == ["ECMWF", "OPENID", "PLAIN", "ETCD", "NONE"]
    assert [e.name for e in ListenerSchemaParserType] == ["GENERIC", "ECMWF"]
    assert str(EngineType.ETCD_REST) == "etcd_rest"
    print("NAMES", pyaviso.__name__, NotificationManager.__module__)
    """
)


def run(source: str, env: dict = None, python: str = sys.executable) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    environment.update(env or {})
    return subprocess.run([python, "-c", source], env=environment, capture_output=True, text=True, timeout=120)


def test_pyavisos_names_import_from_this_package():
    # One module under two names, never two copies (their enums would not compare equal).
    done = run(PYAVISO_NAMES + textwrap.dedent(
        """
        import aviso.engine, aviso.user_config, aviso.custom_exceptions
        assert EngineType is aviso.engine.EngineType and UserConfig is aviso.user_config.UserConfig
        assert InvalidInputError is aviso.custom_exceptions.InvalidInputError
        """
    ))
    assert done.returncode == 0, done.stderr
    # `pyaviso` is this package under its other name.
    assert "NAMES aviso aviso.notification_manager" in done.stdout


def test_the_same_names_import_from_pyaviso_1_0_1():
    # The names checked above are pyaviso's own: the same program passes under pyaviso 1.0.1.
    done = run(PYAVISO_NAMES.replace('assert logger.name == "aviso" and', "assert"), python=pyaviso_python())
    assert done.returncode == 0, done.stderr
    assert "NAMES pyaviso pyaviso.notification_manager" in done.stdout


@pytest.fixture(scope="session")
def pyaviso_2(tmp_path_factory) -> Path:
    """ECMWF's pyaviso 2.x from PyPI, in a folder of its own (put on PYTHONPATH)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aviso-dev" / "pyaviso-2"
    if not (cache / "pyaviso" / "__init__.py").exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--target", str(cache), "pyaviso>=2,<3"],
            check=True,
            timeout=600,
        )
    return cache


def test_an_installed_pyaviso_2_wins_the_name_and_this_package_stays_aviso(pyaviso_2):
    done = run(
        textwrap.dedent(
            """
            import pyaviso, aviso
            from aviso import NotificationManager
            from aviso.user_config import UserConfig
            print("PYAVISO", pyaviso.__file__, hasattr(pyaviso, "AvisoClient"), hasattr(pyaviso, "NotificationManager"))
            print("AVISO", aviso.__name__, NotificationManager.__module__)
            """
        ),
        env={"PYTHONPATH": str(pyaviso_2), "HOME": os.environ["HOME"]},
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["PYAVISO"] == f"{pyaviso_2 / 'pyaviso' / '__init__.py'} True False"
    assert lines["AVISO"] == "aviso aviso.notification_manager"


def test_an_installed_pyaviso_1_wins_the_name_too():
    site = subprocess.run(
        [pyaviso_python(), "-c", "import pyaviso, os; print(os.path.dirname(os.path.dirname(pyaviso.__file__)))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    done = run("import pyaviso, aviso; print(pyaviso.__file__); print(aviso.__file__)", env={"PYTHONPATH": site})
    assert done.returncode == 0, done.stderr
    theirs, ours = done.stdout.split()
    assert theirs.startswith(site) and not ours.startswith(site)


def test_the_demo_runs_the_seed_examples_and_stops_on_ctrl_c():
    done = subprocess.run(
        ["bash", str(REPOSITORY / "examples" / "python" / "demo.sh")],
        env=dict(os.environ, AVISO_PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=with_ctrl_c,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    printed = done.stdout.split("--- what the listener printed:")[-1]
    assert "Listening to /tmp/aviso/flight/ at the embedded store" in printed
    assert "Notification for step AZ203 received" in printed
    assert "KeyboardInterrupt" in printed
