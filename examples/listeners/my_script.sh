#!/bin/sh
# Run by the command triggers of the listener examples: prints what it was given (its
# arguments, $AIRPORT when set, and the notification file of --jsonpath). Replace it with your
# own workflow.
echo "my_script.sh $*"
if [ -n "${AIRPORT:-}" ]; then
  echo "AIRPORT=$AIRPORT"
fi
while [ $# -gt 0 ]; do
  if [ "$1" = --jsonpath ] && [ $# -gt 1 ]; then
    echo "$2 holds:"
    cat "$2"
    echo
  fi
  shift
done
