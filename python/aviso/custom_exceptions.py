"""pyaviso's exceptions, raised by the Rust core with pyaviso's messages."""

from ._native import (
    ConfigurationError,
    EngineException,
    EngineHistoryNotAvailableError,
    EventListenerException,
    InvalidInputError,
    ServiceConfigException,
    TriggerException,
)

__all__ = [
    "ConfigurationError",
    "EngineException",
    "EngineHistoryNotAvailableError",
    "EventListenerException",
    "InvalidInputError",
    "ServiceConfigException",
    "TriggerException",
]
