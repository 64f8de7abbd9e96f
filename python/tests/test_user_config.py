"""`UserConfig` as pyaviso 1.0.1's: the same construction is run under pyaviso 1.0.1 (its own
venv) and under this package, in the same private home and environment, and the attributes
each prints are compared (enums by their class and name). Where this package deliberately
differs (a bad setting raises `ConfigurationError`, a `ValueError` naming the setting, where
pyaviso logged and called `sys.exit(-1)`), the test says what each one does."""

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import pyaviso_python

MARK = "@@RESULT@@ "
NO_ATTRIBUTE = "<no attribute>"

NOTIFICATION_FIELDS = [
    "host",
    "port",
    "type",
    "https",
    "polling_interval",
    "timeout",
    "service",
    "catchup",
    "automatic_retry_delay",
    "max_file_size",
]
CONFIGURATION_FIELDS = [
    "host",
    "port",
    "type",
    "https",
    "max_file_size",
    "timeout",
    "automatic_retry_delay",
    "polling_interval",
    "service",
    "catchup",
]
FIELDS = [
    "debug",
    "quiet",
    "no_fail",
    "username",
    "username_file",
    "key_file",
    "password",
    "auth_type",
    "key_ttl",
    "schema_parser",
    "remote_schema",
    "listeners",
]

# Run under either implementation: `{module}` is `pyaviso` or `aviso`, `{call}` builds `c`,
# `{after}` may change it; prints the attributes, or what the construction did instead.
PROGRAM = '''
import enum, json, sys
from {module}.user_config import UserConfig
from {module}.engine import EngineType
from {module}.authentication import AuthType
from {module}.event_listeners.listener_schema_parser import ListenerSchemaParserType

MARK = {mark!r}
extra = {{}}

def shown(value):
    if isinstance(value, enum.Enum):
        return {{"enum": type(value).__name__, "name": value.name}}
    return value

def read(obj, name):
    try:
        return shown(getattr(obj, name))
    except AttributeError:
        return {no_attribute!r}

def attributes(c):
    out = {{}}
    for section, fields in (("notification_engine", {notification!r}), ("configuration_engine", {configuration!r})):
        engine = getattr(c, section)
        for field in fields:
            out[section + "." + field] = read(engine, field)
    for field in {fields!r}:
        out[field] = read(c, field)
    out["extra"] = extra
    return out

try:
    c = {call}
{after}
except SystemExit as e:
    print(MARK + json.dumps({{"exit": e.code}}), flush=True)
except Exception as e:
    print(MARK + json.dumps({{"raised": type(e).__name__, "value_error": isinstance(e, ValueError), "message": str(e)}}), flush=True)
else:
    print(MARK + json.dumps(attributes(c)), flush=True)
'''


class Run:
    def __init__(self, completed: subprocess.CompletedProcess):
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.code = completed.returncode
        lines = [line for line in completed.stdout.splitlines() if line.startswith(MARK)]
        assert lines, f"no result (exit code {self.code}):\n{self.stdout}\n{self.stderr}"
        self.result = json.loads(lines[-1][len(MARK):])

    def __getitem__(self, name):
        return self.result[name]


def construct(python: str, module: str, home, call: str, env: dict, after: str) -> Run:
    source = PROGRAM.format(
        module=module,
        mark=MARK,
        no_attribute=NO_ATTRIBUTE,
        notification=NOTIFICATION_FIELDS,
        configuration=CONFIGURATION_FIELDS,
        fields=FIELDS,
        call=call,
        after=textwrap.indent(textwrap.dedent(after), "    ") if after.strip() else "    pass",
    )
    environment = home.environment()
    environment.update(env)
    completed = subprocess.run(
        [python, "-c", source],
        env=environment,
        cwd=home.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(completed)


def pyaviso(home, call="UserConfig()", env=None, after="") -> Run:
    return construct(pyaviso_python(), "pyaviso", home, call, env or {}, after)


def ours(home, call="UserConfig()", env=None, after="") -> Run:
    return construct(sys.executable, "aviso", home, call, env or {}, after)


def same(home, call="UserConfig()", env=None, after="") -> dict:
    """Runs `call` under both; asserts every attribute is the same and returns ours.

    With `auth_type` none pyaviso never sets `key_file` nor `password` (reading them raises
    AttributeError); this package has `key_file` (the setting) and `password` None then."""
    theirs = pyaviso(home, call, env, after).result
    mine = ours(home, call, env, after).result
    assert "exit" not in theirs and "raised" not in theirs, theirs
    assert "exit" not in mine and "raised" not in mine, mine
    if theirs["key_file"] == NO_ATTRIBUTE:
        assert theirs["password"] == NO_ATTRIBUTE
        assert mine["auth_type"] == enum("AuthType", "NONE")
        assert isinstance(mine["key_file"], str) and mine["password"] is None, mine
        theirs = {k: v for k, v in theirs.items() if k not in ("key_file", "password")}
        mine = {k: v for k, v in mine.items() if k not in ("key_file", "password")}
    differences = {k: (theirs.get(k), mine.get(k)) for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k)}
    assert differences == {}, "pyaviso 1.0.1 and ours differ (pyaviso's, ours): " + json.dumps(differences, indent=1)
    return mine


def enum(cls: str, name: str) -> dict:
    return {"enum": cls, "name": name}


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# The defaults.


def test_the_defaults_are_pyavisos(home):
    c = same(home)
    assert c["notification_engine.host"] == "localhost"
    assert c["notification_engine.port"] == 2379
    assert c["notification_engine.type"] == enum("EngineType", "ETCD_REST")
    assert c["notification_engine.https"] is False
    assert c["notification_engine.polling_interval"] == 30
    assert c["notification_engine.timeout"] == 60
    assert c["notification_engine.service"] == "aviso/v1"
    assert c["notification_engine.catchup"] is True
    assert c["notification_engine.automatic_retry_delay"] == 15
    assert c["notification_engine.max_file_size"] is None
    assert c["configuration_engine.host"] == "localhost"
    assert c["configuration_engine.port"] == 2379
    assert c["configuration_engine.type"] == enum("EngineType", "ETCD_REST")
    assert c["configuration_engine.max_file_size"] == 500
    assert c["configuration_engine.timeout"] == 60
    assert c["configuration_engine.automatic_retry_delay"] == 15
    assert c["configuration_engine.polling_interval"] is None
    assert c["configuration_engine.service"] is None
    assert c["configuration_engine.catchup"] is None
    assert (c["debug"], c["quiet"], c["no_fail"]) == (False, False, False)
    assert (c["username"], c["username_file"]) == (None, None)
    assert c["auth_type"] == enum("AuthType", "NONE")
    assert c["key_ttl"] == -1
    assert c["schema_parser"] == enum("ListenerSchemaParserType", "GENERIC")
    assert c["remote_schema"] is False
    assert c["listeners"] == {"listeners": None}


def test_key_file_and_password_without_authentication_differ_from_pyaviso(home):
    # pyaviso sets them only when auth_type is not none: reading them raised AttributeError.
    assert pyaviso(home)["key_file"] == NO_ATTRIBUTE
    assert pyaviso(home)["password"] == NO_ATTRIBUTE
    mine = ours(home, env={"AVISO_KEY_FILE": "/somewhere/key"})
    assert mine["key_file"] == "/somewhere/key"
    assert mine["password"] is None
    assert ours(home)["key_file"] == "/etc/aviso/key"


# The files, in order.


def precedence_files(home, tmp_path):
    home.configure(
        """
        notification_engine:
          host: home-host
          port: 1001
          polling_interval: 11
          service: home/v1
        username: home-user
        key_ttl: 1
        """
    )
    env_file = write(
        tmp_path / "env" / "config.yaml",
        """
        notification_engine:
          port: 1002
          polling_interval: 12
        key_ttl: 2
        """,
    )
    given = write(
        tmp_path / "given" / "config.yaml",
        """
        notification_engine:
          polling_interval: 13
        configuration_engine:
          host: given-host
        """,
    )
    return env_file, given


def test_the_home_file_then_aviso_config_then_conf_path(home, tmp_path):
    env_file, given = precedence_files(home, tmp_path)
    c = same(home, f"UserConfig(conf_path={str(given)!r})", env={"AVISO_CONFIG": str(env_file)})
    assert c["notification_engine.host"] == "home-host"
    assert c["notification_engine.service"] == "home/v1"
    assert c["username"] == "home-user"
    assert c["notification_engine.port"] == 1002
    assert c["key_ttl"] == 2
    assert c["notification_engine.polling_interval"] == 13
    assert c["configuration_engine.host"] == "given-host"
    # Keys of a section no file sets keep their defaults.
    assert c["notification_engine.timeout"] == 60
    assert c["configuration_engine.port"] == 2379


def test_the_home_file_alone_and_with_aviso_config(home, tmp_path):
    env_file, _ = precedence_files(home, tmp_path)
    alone = same(home)
    assert (alone["notification_engine.port"], alone["notification_engine.polling_interval"]) == (1001, 11)
    with_env = same(home, env={"AVISO_CONFIG": str(env_file)})
    assert (with_env["notification_engine.port"], with_env["notification_engine.polling_interval"]) == (1002, 12)
    assert with_env["notification_engine.host"] == "home-host"


def test_conf_from_file_replaces_every_file(home, tmp_path):
    env_file, given = precedence_files(home, tmp_path)
    document = {"notification_engine": {"port": 1005}, "username": "from-dict"}
    c = same(
        home,
        f"UserConfig(conf_path={str(given)!r}, conf_from_file={document!r})",
        env={"AVISO_CONFIG": str(env_file)},
    )
    assert c["notification_engine.port"] == 1005
    assert c["username"] == "from-dict"
    # Nothing of the home file, AVISO_CONFIG's or conf_path's.
    assert c["notification_engine.host"] == "localhost"
    assert c["notification_engine.polling_interval"] == 30
    assert c["notification_engine.service"] == "aviso/v1"
    assert c["configuration_engine.host"] == "localhost"
    assert c["key_ttl"] == -1


def test_conf_from_file_then_the_environment_then_the_arguments(home):
    document = {"notification_engine": {"port": 1005, "host": "dict-host"}, "key_ttl": 3}
    c = same(
        home,
        f"UserConfig(conf_from_file={document!r}, key_ttl=4)",
        env={"AVISO_NOTIFICATION_PORT": "1006", "AVISO_KEY_TTL": "5"},
    )
    assert c["notification_engine.host"] == "dict-host"
    assert c["notification_engine.port"] == 1006
    assert c["key_ttl"] == 4


# The environment.

ENVIRONMENT = [
    ("AVISO_NOTIFICATION_HOST", "env-host", "notification_engine.host", "env-host"),
    ("AVISO_NOTIFICATION_PORT", "4001", "notification_engine.port", 4001),
    ("AVISO_NOTIFICATION_HTTPS", "true", "notification_engine.https", True),
    ("AVISO_NOTIFICATION_ENGINE", "etcd_grpc", "notification_engine.type", enum("EngineType", "ETCD_GRPC")),
    ("AVISO_NOTIFICATION_ENGINE", "file_based", "notification_engine.type", enum("EngineType", "FILE_BASED")),
    ("AVISO_NOTIFICATION_SERVICE", "other/v2", "notification_engine.service", "other/v2"),
    ("AVISO_NOTIFICATION_CATCHUP", "false", "notification_engine.catchup", False),
    ("AVISO_POLLING_INTERVAL", "7", "notification_engine.polling_interval", 7),
    ("AVISO_CONFIGURATION_HOST", "conf-host", "configuration_engine.host", "conf-host"),
    ("AVISO_CONFIGURATION_PORT", "4002", "configuration_engine.port", 4002),
    ("AVISO_CONFIGURATION_HTTPS", "True", "configuration_engine.https", True),
    ("AVISO_CONFIGURATION_ENGINE", "etcd_grpc", "configuration_engine.type", enum("EngineType", "ETCD_GRPC")),
    ("AVISO_MAX_FILE_SIZE", "1000", "configuration_engine.max_file_size", 1000),
    ("AVISO_USERNAME", "alice", "username", "alice"),
    ("AVISO_USERNAME_FILE", "/somewhere/username", "username_file", "/somewhere/username"),
    ("AVISO_DEBUG", "true", "debug", True),
    ("AVISO_QUIET", "True", "quiet", True),
    ("AVISO_NO_FAIL", "true", "no_fail", True),
    ("AVISO_KEY_TTL", "3600", "key_ttl", 3600),
    ("AVISO_REMOTE_SCHEMA", "true", "remote_schema", True),
    ("AVISO_SCHEMA_PARSER", "ecmwf", "schema_parser", enum("ListenerSchemaParserType", "ECMWF")),
    ("AVISO_TIMEOUT", "20", "notification_engine.timeout", 20),
    ("AVISO_TIMEOUT", "20", "configuration_engine.timeout", 20),
    ("AVISO_TIMEOUT", "null", "notification_engine.timeout", None),
    ("AVISO_TIMEOUT", "null", "configuration_engine.timeout", None),
    ("AVISO_AUTOMATIC_RETRY_DELAY", "5", "notification_engine.automatic_retry_delay", 5),
    ("AVISO_AUTOMATIC_RETRY_DELAY", "5", "configuration_engine.automatic_retry_delay", 5),
    ("AVISO_AUTOMATIC_RETRY_DELAY", "null", "notification_engine.automatic_retry_delay", None),
    ("AVISO_AUTOMATIC_RETRY_DELAY", "null", "configuration_engine.automatic_retry_delay", None),
]


@pytest.mark.parametrize(
    "variable,value,attribute,expected",
    ENVIRONMENT,
    ids=[f"{v}={value}->{a}" for v, value, a, _ in ENVIRONMENT],
)
def test_an_environment_variable_sets_its_setting(home, variable, value, attribute, expected):
    default = same(home)
    assert default[attribute] != expected
    c = same(home, env={variable: value})
    assert c[attribute] == expected


def test_the_environment_is_over_the_files(home, tmp_path):
    home.configure(
        """
        notification_engine:
          host: file-host
          port: 1001
          https: true
        username: file-user
        debug: true
        """
    )
    c = same(
        home,
        env={
            "AVISO_NOTIFICATION_HOST": "env-host",
            "AVISO_NOTIFICATION_HTTPS": "false",
            "AVISO_USERNAME": "env-user",
            "AVISO_DEBUG": "False",
        },
    )
    assert c["notification_engine.host"] == "env-host"
    assert c["notification_engine.port"] == 1001
    assert c["notification_engine.https"] is False
    assert c["username"] == "env-user"
    assert c["debug"] is False


def test_key_file_from_the_environment_is_read_when_authenticating(home, tmp_path):
    key = write(tmp_path / "secret" / "key", "s3cret\n")
    c = same(home, env={"AVISO_AUTH_TYPE": "plain", "AVISO_KEY_FILE": str(key)})
    assert c["auth_type"] == enum("AuthType", "PLAIN")
    assert c["key_file"] == str(key)
    assert c["password"] == "s3cret"


# The arguments.


def test_the_arguments_are_over_the_environment(home):
    env = {
        "AVISO_NOTIFICATION_PORT": "1111",
        "AVISO_NOTIFICATION_HOST": "env-host",
        "AVISO_CONFIGURATION_PORT": "1112",
        "AVISO_USERNAME": "env-user",
        "AVISO_KEY_TTL": "5",
        "AVISO_DEBUG": "true",
        "AVISO_QUIET": "true",
        "AVISO_NO_FAIL": "true",
        "AVISO_SCHEMA_PARSER": "ecmwf",
        "AVISO_REMOTE_SCHEMA": "true",
        "AVISO_USERNAME_FILE": "/env/username",
    }
    call = """UserConfig(
        notification_engine={"port": 2222},
        configuration_engine={"port": 2223},
        username="arg-user",
        username_file="/arg/username",
        key_ttl=10,
        debug=False,
        quiet=False,
        no_fail=False,
        schema_parser="generic",
        remote_schema=False,
    )"""
    c = same(home, call, env=env)
    assert c["notification_engine.port"] == 2222
    assert c["notification_engine.host"] == "env-host"
    assert c["configuration_engine.port"] == 2223
    assert c["username"] == "arg-user"
    assert c["username_file"] == "/arg/username"
    assert c["key_ttl"] == 10
    assert (c["debug"], c["quiet"], c["no_fail"], c["remote_schema"]) == (False, False, False, False)
    assert c["schema_parser"] == enum("ListenerSchemaParserType", "GENERIC")


def test_engine_dicts_are_merged_key_by_key(home):
    home.configure(
        """
        notification_engine:
          host: file-host
          port: 1001
          polling_interval: 9
        configuration_engine:
          host: conf-file-host
          max_file_size: 100
        """
    )
    call = """UserConfig(
        notification_engine={"port": 3000, "type": "etcd_grpc", "timeout": None},
        configuration_engine={"port": 3001, "automatic_retry_delay": 2},
    )"""
    c = same(home, call, env={"AVISO_POLLING_INTERVAL": "8"})
    assert c["notification_engine.host"] == "file-host"
    assert c["notification_engine.port"] == 3000
    assert c["notification_engine.type"] == enum("EngineType", "ETCD_GRPC")
    assert c["notification_engine.timeout"] is None
    assert c["notification_engine.polling_interval"] == 8
    assert c["notification_engine.service"] == "aviso/v1"
    assert c["configuration_engine.host"] == "conf-file-host"
    assert c["configuration_engine.port"] == 3001
    assert c["configuration_engine.max_file_size"] == 100
    assert c["configuration_engine.automatic_retry_delay"] == 2
    assert c["configuration_engine.timeout"] == 60


def test_booleans_given_as_strings(home):
    call = """UserConfig(
        notification_engine={"https": "True", "catchup": "false"},
        configuration_engine={"https": "TRUE"},
        debug="True",
        quiet="false",
        no_fail="False",
        remote_schema="true",
    )"""
    c = same(home, call)
    assert c["notification_engine.https"] is True
    assert c["notification_engine.catchup"] is False
    assert c["configuration_engine.https"] is True
    assert (c["debug"], c["quiet"], c["no_fail"], c["remote_schema"]) == (True, False, False, True)


def test_booleans_given_as_strings_in_a_file(home):
    home.configure(
        """
        notification_engine:
          https: "True"
          catchup: "false"
        quiet: "true"
        """
    )
    c = same(home)
    assert c["notification_engine.https"] is True
    assert c["notification_engine.catchup"] is False
    assert c["quiet"] is True


# Types and assignments.


def test_the_attribute_types_are_the_enums(home):
    after = """
    assert isinstance(c.notification_engine.type, EngineType), type(c.notification_engine.type)
    assert isinstance(c.configuration_engine.type, EngineType), type(c.configuration_engine.type)
    assert isinstance(c.auth_type, AuthType), type(c.auth_type)
    assert isinstance(c.schema_parser, ListenerSchemaParserType), type(c.schema_parser)
    assert c.notification_engine.type is EngineType.ETCD_GRPC
    assert c.auth_type is AuthType.NONE
    assert c.schema_parser is ListenerSchemaParserType.ECMWF
    assert str(c.auth_type) == "none" and str(c.notification_engine.type) == "etcd_grpc"
    """
    c = same(home, 'UserConfig(notification_engine={"type": "etcd_grpc"}, schema_parser="ecmwf")', after=after)
    assert c["notification_engine.type"] == enum("EngineType", "ETCD_GRPC")


def test_assigning_engine_settings_takes_effect(home):
    after = """
    c.notification_engine.type = EngineType.FILE_BASED
    c.notification_engine.port = 5000
    c.notification_engine.catchup = False
    c.configuration_engine.host = "assigned"
    c.key_ttl = 30
    c.username = "assigned-user"
    """
    c = same(home, after=after)
    assert c["notification_engine.type"] == enum("EngineType", "FILE_BASED")
    assert c["notification_engine.port"] == 5000
    assert c["notification_engine.catchup"] is False
    assert c["configuration_engine.host"] == "assigned"
    assert c["key_ttl"] == 30
    assert c["username"] == "assigned-user"


# A schema whose flight events have one endpoint per engine type, for key().
SCHEMA = {
    "flight": {
        "endpoint": [
            {"engine": ["etcd_grpc"], "base": "/grpc/flight/", "stem": "{date}/{number}"},
            {"engine": ["etcd_rest"], "base": "/rest/flight/", "stem": "{date}/{number}"},
            {"engine": ["file_based"], "base": "/file/flight/", "stem": "{date}/{number}"},
        ],
        "request": {
            "date": [{"type": "DateHandler", "canonic": "%Y%m%d"}],
            "number": [{"type": "StringHandler"}],
        },
    }
}


def test_the_engine_type_assigned_is_the_one_key_uses(home):
    after = f"""
    from {{module}}.notification_manager import NotificationManager
    params = {{"event": "flight", "date": "20210101", "number": "AZ1"}}
    before = NotificationManager().key(params, c, listener_schema={SCHEMA!r})
    c.notification_engine.type = EngineType.ETCD_GRPC
    grpc = NotificationManager().key(params, c, listener_schema={SCHEMA!r})
    c.notification_engine.type = EngineType.FILE_BASED
    file = NotificationManager().key(params, c, listener_schema={SCHEMA!r})
    extra["keys"] = [list(before), list(grpc), list(file)]
    """
    for module in ("pyaviso", "aviso"):
        run = (pyaviso if module == "pyaviso" else ours)(home, after=after.replace("{module}", module))
        keys = run["extra"]["keys"]
        assert [k[:2] for k in keys] == [
            ["/rest/flight/20210101/AZ1", "/rest/flight/"],
            ["/grpc/flight/20210101/AZ1", "/grpc/flight/"],
            ["/file/flight/20210101/AZ1", "/file/flight/"],
        ], (module, keys)


# Authentication files.


def test_auth_type_reads_key_file_into_password_and_username_file_into_username(home, tmp_path):
    key = write(tmp_path / "auth" / "key", "the-password\n\n")
    username = write(tmp_path / "auth" / "username", "the-user\n")
    call = f"UserConfig(auth_type='plain', key_file={str(key)!r}, username_file={str(username)!r}, username='ignored')"
    c = same(home, call)
    assert c["auth_type"] == enum("AuthType", "PLAIN")
    assert c["password"] == "the-password"
    assert c["username"] == "the-user"
    assert c["username_file"] == str(username)
    assert c["key_file"] == str(key)


@pytest.mark.parametrize("auth_type", ["ecmwf", "openid", "etcd"])
def test_every_auth_type_reads_the_key_file(home, tmp_path, auth_type):
    key = write(tmp_path / "auth" / "key", f"{auth_type}-password\n")
    c = same(home, f"UserConfig(auth_type={auth_type!r}, key_file={str(key)!r})")
    assert c["auth_type"] == enum("AuthType", auth_type.upper())
    assert c["password"] == f"{auth_type}-password"


def test_a_key_file_under_home_is_found_with_a_tilde(home):
    write(home.path / ".aviso" / "key", "tilde-password")
    home.configure(
        """
        auth_type: plain
        key_file: ~/.aviso/key
        """
    )
    c = same(home)
    assert c["password"] == "tilde-password"


def test_a_missing_key_file(home, tmp_path):
    missing = tmp_path / "nowhere" / "key"
    call = f"UserConfig(auth_type='plain', key_file={str(missing)!r})"
    theirs = pyaviso(home, call)
    assert theirs["exit"] == -1
    assert "Not able to load the key file" in theirs.stderr
    mine = ours(home, call)
    assert mine["raised"] == "ConfigurationError" and mine["value_error"] is True
    assert "key file" in mine["message"] and str(missing) in mine["message"]


def test_a_missing_username_file(home, tmp_path):
    key = write(tmp_path / "auth" / "key", "p")
    missing = tmp_path / "nowhere" / "username"
    call = f"UserConfig(auth_type='plain', key_file={str(key)!r}, username_file={str(missing)!r})"
    theirs = pyaviso(home, call)
    assert theirs["exit"] == -1
    assert "Not able to load the username file" in theirs.stderr
    mine = ours(home, call)
    assert mine["raised"] == "ConfigurationError" and mine["value_error"] is True
    assert "username file" in mine["message"] and str(missing) in mine["message"]


# Listeners.


def test_the_listeners_argument_is_returned_in_a_listeners_document(home):
    listeners = [{"event": "flight", "request": {"country": "italy"}, "triggers": [{"type": "echo"}]}]
    c = same(home, f"UserConfig(listeners={listeners!r})")
    assert c["listeners"] == {"listeners": listeners}


def test_the_configurations_listeners_section(home):
    home.configure(
        """
        listeners:
          - event: flight
            request:
              country: italy
            triggers:
              - type: echo
        """
    )
    c = same(home)
    assert c["listeners"] == {
        "listeners": [{"event": "flight", "request": {"country": "italy"}, "triggers": [{"type": "echo"}]}]
    }
    given = [{"event": "flight", "triggers": [{"type": "log", "path": "x.log"}]}]
    assert same(home, f"UserConfig(listeners={given!r})")["listeners"] == {"listeners": given}


def test_a_listeners_document_as_argument_differs_from_pyaviso(home):
    # pyaviso wraps whatever it is given; this package takes a {"listeners": [...]} document too.
    document = {"listeners": [{"event": "flight", "triggers": [{"type": "echo"}]}]}
    assert pyaviso(home, f"UserConfig(listeners={document!r})")["listeners"] == {"listeners": document}
    assert ours(home, f"UserConfig(listeners={document!r})")["listeners"] == document


# Logging.

LOGGING = """
version: 1
disable_existing_loggers: false
formatters:
  plain:
    format: "{tag} %(levelname)s %(name)s %(message)s"
handlers:
  file:
    class: logging.FileHandler
    filename: {path}
    formatter: plain
    level: DEBUG
root:
  level: DEBUG
  handlers: [file]
"""


def logging_file(tmp_path, name: str):
    log = tmp_path / f"{name}.log"
    config = write(tmp_path / f"{name}.yaml", LOGGING.format(tag=name, path=log))
    return config, log


@pytest.mark.parametrize("how", ["logging_path", "AVISO_LOG", "both"])
def test_a_logging_file_is_applied(home, tmp_path, how):
    by_argument, argument_log = logging_file(tmp_path, "argument")
    by_environment, environment_log = logging_file(tmp_path, "environment")
    call = "UserConfig()"
    env = {}
    if how in ("logging_path", "both"):
        call = f"UserConfig(logging_path={str(by_argument)!r})"
    if how in ("AVISO_LOG", "both"):
        env["AVISO_LOG"] = str(by_environment)
    used, unused = (environment_log, argument_log) if how == "AVISO_LOG" else (argument_log, environment_log)
    tag = "environment" if how == "AVISO_LOG" else "argument"
    for run in (pyaviso, ours):
        for log in (used, unused):
            log.unlink(missing_ok=True)
        result = run(home, call, env=env, after='import logging; logging.getLogger("aviso").info("after the configuration")')
        assert "exit" not in result.result and "raised" not in result.result, result.result
        text = used.read_text()
        assert f"{tag} DEBUG aviso Loading configuration completed" in text, (run.__name__, text)
        assert f"{tag} INFO aviso after the configuration" in text, (run.__name__, text)
        assert not unused.exists() or unused.read_text() == "", run.__name__
        # The file's configuration replaces the default console handler.
        assert "after the configuration" not in result.stderr, (run.__name__, result.stderr)


def test_the_configurations_logging_section_is_applied(home, tmp_path):
    log = tmp_path / "section.log"
    home.configure(
        f"""
        logging:
          version: 1
          disable_existing_loggers: false
          formatters:
            plain:
              format: "section %(levelname)s %(message)s"
          handlers:
            file:
              class: logging.FileHandler
              filename: {log}
              formatter: plain
          root:
            level: DEBUG
            handlers: [file]
        """
    )
    for run in (pyaviso, ours):
        log.unlink(missing_ok=True)
        result = run(home, after='import logging; logging.getLogger("aviso").warning("a warning")')
        assert "exit" not in result.result and "raised" not in result.result, result.result
        assert "section WARNING a warning" in log.read_text(), run.__name__


def test_a_missing_logging_file(home, tmp_path):
    missing = tmp_path / "nowhere.yaml"
    call = f"UserConfig(logging_path={str(missing)!r})"
    theirs = pyaviso(home, call)
    assert theirs["exit"] == -1
    assert "Not able to load the logging configuration" in theirs.stderr
    mine = ours(home, call)
    assert mine["raised"] == "ConfigurationError" and mine["value_error"] is True
    assert "Not able to load the logging configuration" in mine["message"] and str(missing) in mine["message"]


def test_the_default_console_handler_is_added_once(home):
    after = """
    import logging
    UserConfig()
    consoles = [h for h in logging.getLogger().handlers if h.name == "console"]
    extra["consoles"] = [logging.getLevelName(h.level) for h in consoles]
    """
    assert same(home, after=after)["extra"] == {"consoles": ["INFO"]}
    quiet = after.replace("UserConfig()", "UserConfig(quiet=True)")
    assert same(home, "UserConfig(quiet=True)", after=quiet)["extra"] == {"consoles": ["ERROR"]}


# Bad values: pyaviso logs and calls sys.exit(-1); this package raises ConfigurationError.

BAD = [
    ("env port", "UserConfig()", {"AVISO_NOTIFICATION_PORT": "abc"},
     ["'abc'", "notification_engine.port", "environment variable AVISO_NOTIFICATION_PORT"]),
    ("env polling", "UserConfig()", {"AVISO_POLLING_INTERVAL": "soon"},
     ["'soon'", "notification_engine.polling_interval", "AVISO_POLLING_INTERVAL"]),
    ("env key ttl", "UserConfig()", {"AVISO_KEY_TTL": "forever"}, ["'forever'", "key_ttl", "AVISO_KEY_TTL"]),
    ("env timeout", "UserConfig()", {"AVISO_TIMEOUT": "never"}, ["'never'", "timeout", "AVISO_TIMEOUT"]),
    ("env max file size", "UserConfig()", {"AVISO_MAX_FILE_SIZE": "big"}, ["'big'", "max_file_size", "AVISO_MAX_FILE_SIZE"]),
    ("auth type", "UserConfig(auth_type='kerberos')", {}, ["'kerberos'", "auth_type"]),
    ("env auth type", "UserConfig()", {"AVISO_AUTH_TYPE": "kerberos"}, ["'kerberos'", "auth_type", "AVISO_AUTH_TYPE"]),
    ("engine type", "UserConfig(notification_engine={'type': 'redis'})", {}, ["'redis'", "notification_engine.type"]),
    ("env engine type", "UserConfig()", {"AVISO_NOTIFICATION_ENGINE": "redis"},
     ["'redis'", "notification_engine.type", "AVISO_NOTIFICATION_ENGINE"]),
    ("env configuration engine type", "UserConfig()", {"AVISO_CONFIGURATION_ENGINE": "redis"},
     ["'redis'", "configuration_engine.type", "AVISO_CONFIGURATION_ENGINE"]),
    ("schema parser", "UserConfig(schema_parser='xml')", {}, ["'xml'", "schema_parser"]),
    ("env schema parser", "UserConfig()", {"AVISO_SCHEMA_PARSER": "xml"}, ["'xml'", "schema_parser", "AVISO_SCHEMA_PARSER"]),
    ("file based configuration engine", "UserConfig(configuration_engine={'type': 'file_based'})", {},
     ["configuration_engine.type", "File_based engine not available as configuration engine"]),
]


@pytest.mark.parametrize("call,env,named", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_setting_raises_configuration_error_where_pyaviso_exits(home, call, env, named):
    theirs = pyaviso(home, call, env=env)
    assert theirs["exit"] == -1, theirs.result
    assert "Error occurred while setting the configuration" in theirs.stderr, theirs.stderr
    mine = ours(home, call, env=env)
    assert mine["raised"] == "ConfigurationError", mine.result
    assert mine["value_error"] is True
    for name in named:
        assert name in mine["message"], mine["message"]


def test_a_bad_configuration_file(home):
    home.configure("notification_engine: [unclosed\n")
    theirs = pyaviso(home)
    assert theirs["exit"] == -1
    assert "Not able to load the configuration in" in theirs.stderr
    mine = ours(home)
    assert mine["raised"] == "ConfigurationError" and mine["value_error"] is True
    assert "config.yaml" in mine["message"], mine["message"]


def test_a_bad_assignment_raises_and_changes_nothing(home):
    mine = ours(home, after="""
    try:
        c.notification_engine.port = "not a port"
    except ValueError as e:
        extra["refused"] = [type(e).__name__, str(e)]
    """)
    name, message = mine["extra"]["refused"]
    assert name == "ConfigurationError"
    assert "notification_engine.port" in message
    assert mine["notification_engine.port"] == 2379


def test_importable_as_pyaviso_with_the_same_values(home):
    # Ours under the name pyaviso (the alias), against pyaviso 1.0.1 itself.
    theirs = pyaviso(home, "UserConfig(key_ttl=9)").result
    mine = construct(sys.executable, "pyaviso", home, "UserConfig(key_ttl=9)", {}, "").result
    for field in ("key_file", "password"):
        theirs.pop(field)
        mine.pop(field)
    assert mine == theirs


# Values pyaviso took as they came, which are typed or checked here.


@pytest.mark.parametrize("value", ["yes", "on", "Yes"])
def test_yes_and_on_are_true_here_and_false_in_pyaviso(home, value):
    # pyaviso compares the text with "true"; the core reads a variable as a YAML 1.1 scalar.
    for variable, attribute in (
        ("AVISO_NOTIFICATION_HTTPS", "notification_engine.https"),
        ("AVISO_DEBUG", "debug"),
        ("AVISO_REMOTE_SCHEMA", "remote_schema"),
    ):
        assert pyaviso(home, env={variable: value})[attribute] is False
        assert ours(home, env={variable: value})[attribute] is True


@pytest.mark.parametrize("value", ["1", "0", "maybe"])
def test_other_boolean_texts_are_refused_here_and_false_in_pyaviso(home, value):
    assert pyaviso(home, env={"AVISO_NOTIFICATION_CATCHUP": value})["notification_engine.catchup"] is False
    mine = ours(home, env={"AVISO_NOTIFICATION_CATCHUP": value})
    assert mine["raised"] == "ConfigurationError", mine.result
    assert "notification_engine.catchup" in mine["message"] and "expected true or false" in mine["message"]


def test_an_empty_variable_is_unset_here_and_an_empty_value_in_pyaviso(home):
    env = {"AVISO_NOTIFICATION_HOST": "", "AVISO_USERNAME": "", "AVISO_NOTIFICATION_CATCHUP": ""}
    theirs = pyaviso(home, env=env)
    assert (theirs["notification_engine.host"], theirs["username"], theirs["notification_engine.catchup"]) == ("", "", False)
    mine = ours(home, env=env)
    assert (mine["notification_engine.host"], mine["username"], mine["notification_engine.catchup"]) == ("localhost", None, True)
    # An empty number: pyaviso exits (int("")), here it is unset too.
    assert pyaviso(home, env={"AVISO_NOTIFICATION_PORT": ""})["exit"] == -1
    assert ours(home, env={"AVISO_NOTIFICATION_PORT": ""})["notification_engine.port"] == 2379


def test_numbers_given_as_text_are_numbers_here(home):
    call = "UserConfig(notification_engine={'port': '2400'}, key_ttl='5')"
    theirs = pyaviso(home, call)
    assert (theirs["notification_engine.port"], theirs["key_ttl"]) == ("2400", "5")
    mine = ours(home, call)
    assert (mine["notification_engine.port"], mine["key_ttl"]) == (2400, 5)


@pytest.mark.parametrize(
    "call,setting",
    [
        ("UserConfig(notification_engine={'polling_interval': 2.5})", "notification_engine.polling_interval"),
        ("UserConfig(notification_engine={'polling_interval': -1})", "notification_engine.polling_interval"),
        ("UserConfig(notification_engine={'port': 0})", "notification_engine.port"),
        ("UserConfig(notification_engine={'host': 'two words'})", "notification_engine.host"),
    ],
)
def test_values_pyaviso_kept_are_refused_here(home, call, setting):
    theirs = pyaviso(home, call)
    assert "exit" not in theirs.result and "raised" not in theirs.result
    mine = ours(home, call)
    assert mine["raised"] == "ConfigurationError" and setting in mine["message"], mine.result


def test_a_tilde_in_a_file_argument_is_expanded_here(home):
    # pyaviso expands ~ when it reads the file (and in configuration files); the attribute
    # keeps the argument as given. Here the attribute is the expanded path.
    write(home.path / "key", "pw")
    write(home.path / "user", "someone")
    call = "UserConfig(auth_type='plain', key_file='~/key', username_file='~/user')"
    theirs = pyaviso(home, call)
    mine = ours(home, call)
    assert (theirs["password"], theirs["username"]) == (mine["password"], mine["username"]) == ("pw", "someone")
    assert (theirs["key_file"], theirs["username_file"]) == ("~/key", "~/user")
    assert (mine["key_file"], mine["username_file"]) == (str(home.path / "key"), str(home.path / "user"))


def test_enum_members_are_taken_as_arguments_here(home):
    # pyaviso calls .upper() on what it is given, so an enum member ends the program.
    call = (
        "UserConfig(auth_type=AuthType.NONE, schema_parser=ListenerSchemaParserType.ECMWF, "
        "notification_engine={'type': EngineType.ETCD_GRPC})"
    )
    assert pyaviso(home, call)["exit"] == -1
    mine = ours(home, call)
    assert mine["auth_type"] == enum("AuthType", "NONE")
    assert mine["schema_parser"] == enum("ListenerSchemaParserType", "ECMWF")
    assert mine["notification_engine.type"] == enum("EngineType", "ETCD_GRPC")


def test_debug_sets_the_root_level(home):
    after = """
    import logging
    extra["root"] = logging.getLevelName(logging.root.level)
    extra["console"] = [logging.getLevelName(h.level) for h in logging.root.handlers if h.name == "console"]
    """
    assert same(home, "UserConfig(debug=True)", after=after)["extra"] == {"root": "DEBUG", "console": ["DEBUG"]}
    assert same(home, "UserConfig()", after=after)["extra"] == {"root": "WARNING", "console": ["INFO"]}
