"""pyaviso's ``UserConfig``: the settings of a client, read in pyaviso's order.

Defaults, ``/etc/aviso/config.yaml``, ``~/.aviso/config.yaml``, the file in ``AVISO_CONFIG``,
``conf_path`` (or ``conf_from_file`` in place of every file), the ``AVISO_*`` environment
variables, then the constructor's arguments. The Rust core reads and checks them; the
attributes here are views of its settings, and assigning one changes them (a bad value raises
``ConfigurationError`` naming the setting, and changes nothing).
"""

import json
import logging
import logging.config
import os
import threading
from typing import Any, Dict, Optional

from . import _native, logger
from .authentication import AuthType
from .custom_exceptions import ConfigurationError
from .engine import EngineType
from .event_listeners.listener_schema_parser import ListenerSchemaParserType

CONF_FILE = "config.yaml"
KEY_FILE = "key"

_ENUMS = (EngineType, AuthType, ListenerSchemaParserType)

# Clients by the settings they were made for (see UserConfig._client).
_CLIENTS: Dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _setting_value(value):
    """A value as the core reads it: enums by their names, paths as text."""
    if isinstance(value, _ENUMS):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


class EngineConfig:
    """One engine's settings (``notification_engine`` or ``configuration_engine``)."""

    _FIELDS = (
        "host",
        "port",
        "https",
        "type",
        "polling_interval",
        "timeout",
        "max_file_size",
        "service",
        "catchup",
        "automatic_retry_delay",
    )
    # Fields pyaviso keeps for one engine only; the other shows None.
    _OWN = {
        "notification_engine": {"polling_interval", "service", "catchup", "endpoints", "liveness_check"},
        "configuration_engine": {"max_file_size"},
    }

    def __init__(self, owner: "UserConfig", section: str):
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_section", section)

    def __getattr__(self, name):
        values = self._owner._values()[self._section]
        if name == "type":
            return EngineType[values["type"].upper()]
        if name in values:
            return values[name]
        if name in self._FIELDS:
            return None
        raise AttributeError(f"'{self._section}' has no setting '{name}'")

    def __setattr__(self, name, value):
        known = self._owner._values()[self._section]
        if name not in known:
            mine = self._OWN.get(self._section, set())
            other = "configuration_engine" if self._section == "notification_engine" else "notification_engine"
            if name in self._OWN.get(other, set()) and name not in mine:
                raise ConfigurationError(f"{name} is a setting of {other}, not of {self._section}")
        self._owner._set(f"{self._section}.{name}", value)

    def __str__(self):
        items = [
            f"host: {self.host}",
            f"port: {self.port}",
            f"https: {self.https}",
            f"type: {self.type.name}",
            f"polling_interval: {self.polling_interval}",
            f"timeout: {self.timeout}",
            f"max_file_size: {self.max_file_size}",
            f"service: {self.service}",
            f"catchup: {self.catchup}",
            f"automatic_retry_delay: {self.automatic_retry_delay}",
        ]
        return "Engine Configuration:\n" + "\n".join(items)

    def __repr__(self):
        return f"{self.__class__.__name__}({self})"


class UserConfig:
    """The configuration of a client, with every constructor argument of pyaviso 1.x.

    Unlike pyaviso's, a bad setting raises ``ConfigurationError`` (a ``ValueError``) instead of
    ending the program.
    """

    def __init__(
        self,
        conf_path: Optional[str] = None,
        conf_from_file: Optional[Dict[str, Any]] = None,
        logging_path: Optional[str] = None,
        notification_engine: Optional[Dict[str, Any]] = None,
        configuration_engine: Optional[Dict[str, Any]] = None,
        debug: Optional[bool] = None,
        quiet: Optional[bool] = None,
        no_fail: Optional[bool] = None,
        username: Optional[str] = None,
        username_file: Optional[str] = None,
        key_file: Optional[str] = None,
        auth_type: Optional[str] = None,
        key_ttl: Optional[int] = None,
        schema_parser: Optional[str] = None,
        remote_schema: Optional[bool] = None,
        listeners: Optional[Any] = None,
    ):
        self._client_cache = None
        self._listeners = None
        self._cached_values = None
        self._native = _native.Configuration.read(
            os.fspath(conf_path) if conf_path else None,
            json.dumps(conf_from_file, default=_setting_value) if conf_from_file else None,
        )
        self._configure_logging(logging_path)
        for section, given in (
            ("notification_engine", notification_engine),
            ("configuration_engine", configuration_engine),
        ):
            for name, value in (given or {}).items():
                self._set(f"{section}.{name}", value)
        for name, value in (
            ("username", username),
            ("username_file", username_file),
            ("auth_type", auth_type),
            ("key_ttl", key_ttl),
            ("schema_parser", schema_parser),
            ("remote_schema", remote_schema),
            ("no_fail", no_fail),
        ):
            if value is not None:
                self._set(name, value)
        if key_file is not None:
            self._set("key_file", key_file)
        # Through the properties: they also set the console's level, as pyaviso's do.
        self.debug = debug
        self.quiet = quiet
        self.password = None
        if self.auth_type != AuthType.NONE:
            self.password = self._read_file(self.key_file, "key file")
            if self.username_file:
                self._set("username", self._read_file(self.username_file, "username file"))
        if listeners is not None:
            self.listeners = listeners
        logger.debug("Loading configuration completed")

    # The settings, as the core resolved them.

    def _values(self) -> Dict[str, Any]:
        if self._cached_values is None:
            self._cached_values = json.loads(self._native.values())
        return self._cached_values

    def _set(self, setting: str, value) -> None:
        self._native.set(setting, json.dumps(_setting_value(value), default=str))
        self._cached_values = None

    def _client(self, listener_schema: Optional[Dict[str, Any]] = None):
        """A client for these settings, shared by every configuration with the same settings
        (one connection and one publisher: notifications sent from many threads are written
        together); made again when the settings change."""
        if listener_schema:
            return _native.Client(self._native, json.dumps(listener_schema))
        generation = self._native.generation
        cached = self._client_cache
        if cached is not None and cached[0] == generation:
            return cached[1]
        fingerprint = self._native.fingerprint()
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(fingerprint)
            if client is None:
                client = _CLIENTS[fingerprint] = _native.Client(self._native)
        self._client_cache = (generation, client)
        return client

    @staticmethod
    def _read_file(path: str, what: str) -> str:
        full = os.path.expanduser(path)
        try:
            with open(full, "r") as f:
                return f.read().rstrip()
        except OSError as e:
            raise ConfigurationError(f"Not able to load the {what}: {full}, {e.strerror or e}") from None

    def _configure_logging(self, logging_path: Optional[str]) -> None:
        """pyaviso's order: ``logging_path``, ``AVISO_LOG``, the configuration's ``logging``;
        else a console handler for messages, unless the program already has one."""
        path = logging_path or os.environ.get("AVISO_LOG")
        section = None
        if path is None:
            configured = self._native.logging()
            if configured is not None:
                kind, value = configured
                if kind == "file":
                    path = value
                else:
                    section = json.loads(value)
        if path is not None:
            try:
                with open(os.path.expanduser(path), "r") as f:
                    section = json.loads(_native.load_yaml(f.read()))
            except (OSError, ConfigurationError) as e:
                raise ConfigurationError(f"Not able to load the logging configuration {path}, {e}") from None
        if section is None:
            self._default_console()
            return
        try:
            logging.config.dictConfig(section)
        except (ValueError, TypeError, AttributeError, ImportError) as e:
            raise ConfigurationError(f"Not able to load the logging configuration, {e}") from None

    @staticmethod
    def _console():
        return next((h for h in logging.getLogger().handlers if h.name == "console"), None)

    def _default_console(self) -> None:
        if self._console() is None:
            console = logging.StreamHandler()
            console.name = "console"
            console.setLevel(logging.INFO)
            console.setFormatter(logging.Formatter("%(message)s"))
            logging.getLogger().addHandler(console)

    # pyaviso's attributes.

    @property
    def notification_engine(self) -> EngineConfig:
        return EngineConfig(self, "notification_engine")

    @notification_engine.setter
    def notification_engine(self, values: Dict[str, Any]):
        for name, value in (values or {}).items():
            self._set(f"notification_engine.{name}", value)

    @property
    def configuration_engine(self) -> EngineConfig:
        return EngineConfig(self, "configuration_engine")

    @configuration_engine.setter
    def configuration_engine(self, values: Dict[str, Any]):
        for name, value in (values or {}).items():
            self._set(f"configuration_engine.{name}", value)

    @property
    def debug(self) -> bool:
        return self._values()["debug"]

    @debug.setter
    def debug(self, debug):
        if debug is not None:
            self._set("debug", debug)
        if self.debug:
            logging.root.setLevel(logging.DEBUG)
            console = self._console()
            (console or logging.getLogger()).setLevel(logging.DEBUG)

    @property
    def quiet(self) -> bool:
        return self._values()["quiet"]

    @quiet.setter
    def quiet(self, quiet):
        if quiet is not None:
            self._set("quiet", quiet)
        if self.quiet:
            console = self._console()
            if console is not None:
                console.setLevel(logging.ERROR)

    @property
    def no_fail(self) -> bool:
        return self._values()["no_fail"]

    @no_fail.setter
    def no_fail(self, no_fail):
        self._set("no_fail", no_fail)

    @property
    def username(self) -> Optional[str]:
        return self._values()["username"]

    @username.setter
    def username(self, username):
        self._set("username", username)

    @property
    def username_file(self) -> Optional[str]:
        return self._values()["username_file"]

    @username_file.setter
    def username_file(self, username_file):
        self._set("username_file", username_file)

    @property
    def key_file(self) -> str:
        return self._values()["key_file"]

    @key_file.setter
    def key_file(self, key_file):
        self._set("key_file", key_file)

    @property
    def auth_type(self) -> AuthType:
        return AuthType[self._values()["auth_type"].upper()]

    @auth_type.setter
    def auth_type(self, auth_type):
        self._set("auth_type", auth_type)

    @property
    def key_ttl(self) -> int:
        return self._values()["key_ttl"]

    @key_ttl.setter
    def key_ttl(self, key_ttl):
        self._set("key_ttl", key_ttl)

    @property
    def schema_parser(self):
        """``ListenerSchemaParserType``, or the path of a schema parser component."""
        name = self._values()["schema_parser"]
        try:
            return ListenerSchemaParserType[name.upper()]
        except KeyError:
            return name

    @schema_parser.setter
    def schema_parser(self, schema_parser):
        self._set("schema_parser", schema_parser)

    @property
    def remote_schema(self) -> bool:
        return self._values()["remote_schema"]

    @remote_schema.setter
    def remote_schema(self, remote_schema):
        self._set("remote_schema", remote_schema)

    @property
    def listeners(self) -> Dict[str, Any]:
        """``{"listeners": [...]}``: those given to the constructor, else the configuration's."""
        if self._listeners is not None:
            return {"listeners": self._listeners}
        section = self._native.listeners()
        return {"listeners": json.loads(section) if section is not None else None}

    @listeners.setter
    def listeners(self, listeners):
        # pyaviso takes the list itself; a {"listeners": [...]} document is taken too.
        if isinstance(listeners, dict) and "listeners" in listeners:
            listeners = listeners["listeners"]
        self._listeners = listeners

    def __str__(self):
        items = [
            f"notification_engine: {self.notification_engine}",
            f"configuration_engine: {self.configuration_engine}",
            f"auth_type: {self.auth_type}",
            f"debug: {self.debug}",
            f"quiet: {self.quiet}",
            f"username: {self.username}",
            f"username_file: {self.username_file}",
            f"no_fail: {self.no_fail}",
            f"key_ttl: {self.key_ttl}",
            f"schema_parser: {self.schema_parser}",
            f"remote_schema: {self.remote_schema}",
        ]
        return "User Configuration:\n" + "\n".join(items)

    def __repr__(self):
        return f"{self.__class__.__name__}({self})"
