"""An example Aviso trigger plugin in Python: prints a one-line summary of each notification.

Build it into a WebAssembly component with componentize-py (see README.md).
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log, types


def settings(config: str) -> dict:
    """The trigger's settings, or an invalid-config error Aviso reports when the listener loads."""
    try:
        parsed = json.loads(config)
    except ValueError as error:
        raise Err(types.Error_InvalidConfig(f"configuration is not valid JSON: {error}"))
    if not isinstance(parsed.get("prefix", ""), str):
        raise Err(types.Error_InvalidConfig("prefix must be a string"))
    return parsed


class Trigger(exports.Trigger):
    def validate(self, config: str) -> None:
        settings(config)

    def run(self, config: str, notification: types.Notification) -> None:
        prefix = settings(config).get("prefix", "Notification")
        request = dict(notification.request)
        if "number" not in request:
            raise Err(types.Error_Failed("this plugin expects flight notifications (no 'number')"))
        payload = notification.payload if notification.payload is not None else "(no payload)"
        print(f"{prefix}: {notification.event} {request['number']} at {request.get('airport', '?')}: {payload}")
        log.emit(log.Level.INFO, f"summarised {notification.key}")
