"""pyaviso's ``NotificationManager``: listen, notify, key and value, with pyaviso's signatures
and results, on the Rust core (the GIL is released while it waits or works)."""

import json
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from . import logger, user_config
from .custom_exceptions import EventListenerException, InvalidInputError


def _text(value) -> str:
    """A parameter's value as text, as pyaviso formats it into keys."""
    return value if isinstance(value, str) else str(value)


def _parameters(params: Dict[str, Any]) -> List[Tuple[str, str]]:
    if not isinstance(params, dict):
        raise InvalidInputError(f"Invalid notification, expected a dict of parameters, found {type(params).__name__}")
    return [(str(key), _text(value)) for key, value in params.items()]


def _utc(date: Optional[datetime], name: str) -> Optional[str]:
    if date is None:
        return None
    if not isinstance(date, datetime):
        raise InvalidInputError(f"{name} must be a datetime, found {type(date).__name__}")
    if date.tzinfo is not None:
        date = date.astimezone(timezone.utc).replace(tzinfo=None)
    return date.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _naive_utc(date: datetime) -> datetime:
    if date.tzinfo is not None:
        return date.astimezone(timezone.utc).replace(tzinfo=None)
    return date


class _Functions:
    """The callables of ``function`` triggers, numbered: the core is given the numbers."""

    def __init__(self):
        self.callables = []

    def document(self, listeners: Any) -> Any:
        """A copy of a listener document in which each function is replaced by its number."""
        if not isinstance(listeners, dict):
            return listeners
        items = listeners.get("listeners")
        if not isinstance(items, list):
            return listeners
        document = dict(listeners)
        document["listeners"] = [self._listener(i, item) for i, item in enumerate(items, start=1)]
        return document

    def _listener(self, position: int, listener: Any) -> Any:
        if not isinstance(listener, dict) or not isinstance(listener.get("triggers"), list):
            return listener
        listener = dict(listener)
        triggers = []
        for number, trigger in enumerate(listener["triggers"], start=1):
            if isinstance(trigger, dict) and str(trigger.get("type", "")).lower() == "function":
                trigger = dict(trigger)
                function = trigger.get("function")
                if function is not None:
                    if not callable(function):
                        raise TypeError(
                            f"Listener {position}, trigger {number}: 'function' must be a callable, "
                            f"found {type(function).__name__} ({function!r})"
                        )
                    trigger["function"] = len(self.callables)
                    self.callables.append(function)
            triggers.append(trigger)
        listener["triggers"] = triggers
        return listener


def _json(document: Any, source: str) -> str:
    try:
        return json.dumps(document, default=str)
    except (TypeError, ValueError) as e:
        raise EventListenerException(f"Not able to read {source}: {e}") from None


class ListenerManager:
    """The listenings started by a ``NotificationManager``."""

    def __init__(self):
        self.listeners = []

    def cancel_listeners(self) -> None:
        """Stops every listening: running triggers finish, positions are saved."""
        for listening in self.listeners:
            listening.stop()
        for listening in self.listeners:
            try:
                listening.wait()
            except Exception as e:  # already reported by the listening's own log
                logger.debug(f"Listening ended with {e}")
        self.listeners = []


class NotificationManager:
    """Listen to notifications and run triggers; submit notifications; compute their keys."""

    def __init__(self):
        self.listener_manager = ListenerManager()
        self._default_config = None

    def _config(self, config: Optional[user_config.UserConfig]) -> user_config.UserConfig:
        # pyaviso read the configuration again at every call; it is read once per manager here.
        if config is not None:
            return config
        if self._default_config is None:
            self._default_config = user_config.UserConfig()
        return self._default_config

    def _start(self, config, listeners_file_paths, listeners, from_date, to_date):
        functions = _Functions()
        files: List[str] = []
        documents: List[Tuple[str, str]] = []
        if listeners_file_paths:
            files = [str(path) for path in listeners_file_paths]
        elif listeners is not None:
            documents.append(("the listeners given", _json(functions.document(listeners), "the listeners given")))
        else:
            section = config.listeners
            if section.get("listeners") is None:
                raise EventListenerException("Listeners not defined")
            documents.append(("the configuration's listeners", _json(functions.document(section), "listeners")))
        listening = config._client().listen(
            documents,
            files,
            functions.callables,
            bool(config.notification_engine.catchup),
            _utc(from_date, "from_date"),
            _utc(to_date, "to_date"),
        )
        self.listener_manager.listeners.append(listening)
        return listening

    def _listen(
        self,
        config: user_config.UserConfig = None,
        listeners_file_paths: List[str] = None,
        listeners: Dict[str, Any] = None,
        from_date: datetime = None,
        to_date: datetime = None,
    ) -> int:
        """Starts the listeners and returns at once: as pyaviso's, how many listeners this
        manager runs (those of earlier calls included, until ``cancel_listeners``)."""
        self._start(self._config(config), listeners_file_paths, listeners, from_date, to_date)
        return sum(listening.listeners for listening in self.listener_manager.listeners)

    def listen(
        self,
        config: user_config.UserConfig = None,
        listeners_file_paths: List[str] = None,
        listeners: Dict[str, Any] = None,
        from_date: datetime = None,
        to_date: datetime = None,
        now: bool = False,
        catchup: bool = False,
    ):
        """Listens until the listeners end (a ``to_date`` replay) or Ctrl-C, which stops them and
        raises ``KeyboardInterrupt``. A listener that cannot go on raises
        ``EventListenerException``."""
        logger.debug("Calling listen...")
        config = self._config(config)
        now_date = _utc_now()
        if from_date:
            assert _naive_utc(from_date) < now_date, "from_date must be in the past"
        if to_date:
            assert _naive_utc(to_date) < now_date, "to_date must be in the past"
            assert from_date is not None, "from_date is required if to_date is defined"
            assert _naive_utc(to_date) > _naive_utc(from_date), "to_date must be later than from_date"
        assert not (now and catchup), "Only now or catchup can be specified at the same time"
        if catchup:
            config.notification_engine.catchup = True
        elif now:
            config.notification_engine.catchup = False
        listening = self._start(config, listeners_file_paths, listeners, from_date, to_date)
        try:
            listening.wait()
        except KeyboardInterrupt:
            raise
        except Exception as e:
            raise EventListenerException(f"Error in one of the listening process: {e}") from e
        finally:
            if listening in self.listener_manager.listeners:
                self.listener_manager.listeners.remove(listening)

    def key(
        self, params: Dict, config: user_config.UserConfig = None, listener_schema: Dict = None
    ) -> Tuple[str, str, Optional[str]]:
        """``(key, base key, admin key or None)`` of a notification's parameters."""
        logger.debug(f"Calling generate key with the following parameters {params}...")
        config = self._config(config)
        if not isinstance(params, dict) or "event" not in params:
            raise InvalidInputError("Invalid notification, 'event' could not be located")
        return tuple(config._client(listener_schema).key(_parameters(params)))

    def value(self, params: Dict, config: user_config.UserConfig = None) -> Optional[str]:
        """The value stored for a notification's parameters, or None."""
        logger.debug(f"Calling get value with the following parameters {params}...")
        config = self._config(config)
        if not isinstance(params, dict) or "event" not in params:
            raise InvalidInputError("Invalid notification, 'event' could not be located")
        value = config._client().value(_parameters(params))
        if value is None:
            logger.debug("No value returned")
            return None
        return bytes(value).decode("utf-8", errors="replace")

    def notify(self, notification: Dict, config: user_config.UserConfig = None) -> bool:
        """Submits a notification (its status and admin keys with it, in one transaction).

        As pyaviso's, it takes the payload field and ``ttl`` out of the dict it is given."""
        logger.debug(f"Calling notify with the following notification {notification}...")
        config = self._config(config)
        if not isinstance(notification, dict) or "event" not in notification:
            raise InvalidInputError("Invalid notification, 'event' could not be located")
        client = config._client()
        payload_field = client.payload_field
        parameters = _parameters({k: v for k, v in notification.items() if k not in (payload_field, "ttl")})
        if payload_field in notification:
            payload = notification.pop(payload_field)
            if isinstance(payload, (dict, list)):
                payload = json.dumps(payload)
            parameters.append((payload_field, _text(payload)))
        if "ttl" in notification:
            parameters.append(("ttl", _text(notification.pop("ttl"))))
        client.notify(parameters)
        return True


__all__ = ["NotificationManager", "ListenerManager"]
