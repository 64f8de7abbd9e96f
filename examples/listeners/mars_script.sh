#!/bin/sh
# Run by the command trigger of mars_command.yaml: prints what it was given. A real one would
# retrieve the data, e.g. with `mars`.
echo "mars_script.sh $*"
