"""Where pyaviso's scripts and tests also import ``EngineType`` from."""

from . import EngineType

__all__ = ["EngineType"]
