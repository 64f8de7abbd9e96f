#!/usr/bin/env bash
# pyaviso 1.0.1 from PyPI (its `aviso` command), the reference the interoperability tests and
# benchmarks compare with. cloudevents is held below 2: pyaviso 1.0.1 breaks with 2.x.
exec bash "$(dirname "$0")/venv-tool.sh" pyaviso-1.0.1 aviso 'pyaviso==1.0.1' 'cloudevents<2'
