"""``import pyaviso`` gives this package where no other ``pyaviso`` is installed.

A ``.pth`` file installed with the package imports this module at start-up (it imports
nothing of the package until ``pyaviso`` is asked for). The finder it adds
comes after every other one, so an installed ``pyaviso`` (ECMWF's 1.x, or its 2.x client,
which took the name on PyPI) is always found first; this package stays importable as
``aviso`` beside it.
"""

import importlib
import importlib.abc
import importlib.util
import sys

ALIAS = "pyaviso"
PACKAGE = "aviso"


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module):
        pass


def _alias_spec(fullname: str, real: str):
    """A spec that loads ``real`` under ``fullname``; None when ``real`` is not installed."""
    try:
        found = importlib.util.find_spec(real)
    except ImportError:
        return None
    if found is None:
        return None
    package = found.submodule_search_locations is not None
    return importlib.util.spec_from_loader(fullname, _AliasLoader(real), is_package=package)


class _AliasFinder(importlib.abc.MetaPathFinder):
    """``pyaviso`` itself: asked last, so that a real pyaviso is found first."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != ALIAS:
            return None
        spec = _alias_spec(fullname, PACKAGE)
        if spec is None:
            return None
        # From now on ``pyaviso.x`` is ``aviso.x``: asked first, since the standard finder
        # would load a second copy of each module from the package's folder.
        if not any(isinstance(finder, _SubmoduleFinder) for finder in sys.meta_path):
            sys.meta_path.insert(0, _SubmoduleFinder())
        return spec


class _SubmoduleFinder(importlib.abc.MetaPathFinder):
    """``pyaviso.x`` as ``aviso.x``, once ``pyaviso`` is this package."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(ALIAS + "."):
            return None
        if getattr(sys.modules.get(ALIAS), "__name__", None) != PACKAGE:
            return None
        return _alias_spec(fullname, PACKAGE + fullname[len(ALIAS):])


def install() -> None:
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.append(_AliasFinder())


install()
