"""Aviso's Python API: pyaviso 1.x's ``NotificationManager`` and ``UserConfig`` on the Rust core.

Scripts written for pyaviso 1.x run unchanged: this package is importable as ``aviso`` and,
where no other ``pyaviso`` is installed, as ``pyaviso`` too (see docs/python.md).
"""

import logging
from queue import Queue

from . import _native

__version__ = _native.__version__

# pyaviso's application logger: every message of the library goes to it or to its children
# ("aviso.delivery", "aviso.trigger", ...).
logger = logging.getLogger("aviso")
logger.setLevel(logging.DEBUG)

# Where configuration and state are looked for, as pyaviso's.
HOME_FOLDER = "~/.aviso"
SYSTEM_FOLDER = "/etc/aviso"

# pyaviso's channel to the main thread; kept for scripts that import it (listening here is
# waited for through the listener handles, not this queue).
exit_channel = Queue()

from . import user_config  # noqa: E402
from .notification_manager import NotificationManager  # noqa: E402

__all__ = [
    "HOME_FOLDER",
    "SYSTEM_FOLDER",
    "NotificationManager",
    "logger",
    "user_config",
    "__version__",
]
