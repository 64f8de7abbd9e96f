"""{{name}}: an Aviso trigger plugin in Python. It logs every notification it gets; put your own
action in `run`.

Build it into a WebAssembly component with ./build.sh (see README.md).
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
        """Checked once, when the listener loads: an error here stops the listener from starting."""
        settings(config)

    def run(self, config: str, notification: types.Notification) -> None:
        """Called for every notification the listener receives."""
        prefix = settings(config).get("prefix", "Notification received")
        # pyaviso's notification dict: event, request, and the payload when there is one.
        as_dict = {"event": notification.event, "request": dict(notification.request)}
        if notification.payload is not None:
            as_dict[notification.payload_field] = notification.payload
        text = json.dumps(as_dict, ensure_ascii=False, separators=(",", ":"))
        log.emit(log.Level.INFO, f"{prefix}: {text}")
