#!/usr/bin/env bash
# componentize-py from PyPI, which builds the Python example plugin.
exec bash "$(dirname "$0")/venv-tool.sh" componentize-py componentize-py 'componentize-py==0.25.1'
