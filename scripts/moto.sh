#!/usr/bin/env bash
# moto's AWS emulator from PyPI (its `moto_server` command), for the SNS tests.
exec bash "$(dirname "$0")/venv-tool.sh" moto moto_server 'moto[server]>=5,<6'
