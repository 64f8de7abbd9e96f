"""The Python side of pycompat's differential test (pycompat/tests/python.rs).

Reads one JSON request per line from stdin, `[kind, arguments...]`, and answers each with one
JSON line: {"ok": result} or {"error": str(exception)}. The first line written names the Python
and Unicode versions. Output is ASCII-escaped JSON, so the transport cannot alter any character.
"""

import datetime
import json
import struct
import sys
import unicodedata


def value(encoded):
    """A format argument: {"int": n}, {"float": bits} or {"str": text}."""
    if "int" in encoded:
        return encoded["int"]
    if "float" in encoded:
        return struct.unpack("<d", struct.pack("<Q", encoded["float"]))[0]
    return encoded["str"]


def each_char(function, text):
    """function(c) for every character c of text that it does not fail on, by index."""
    results = {}
    for index, character in enumerate(text):
        try:
            results[index] = function(character)
        except ValueError:
            pass
    return results


HANDLERS = {
    "format": lambda encoded, spec: format(value(encoded), spec),
    "template": lambda template, encoded: template.format(value(encoded)),
    "float_repr": lambda bits: repr(struct.unpack("<d", struct.pack("<Q", bits))[0]),
    "strftime": lambda form, fields: datetime.datetime(*fields).strftime(form),
    "strptime": lambda form, text: datetime.datetime.strptime(text, form).strftime(form),
    "str_repr": repr,
    "repr": lambda text: repr(json.loads(text)),
    "dumps": lambda text, indent, sort_keys: json.dumps(
        json.loads(text), indent=indent, sort_keys=sort_keys
    ),
    "int": lambda text: str(int(text)),
    "float": lambda text: repr(float(text)),
    # int() and float() of c + "7" + c for every character c of the text.
    "int_each": lambda text: each_char(lambda c: str(int(c + "7" + c)), text),
    "float_each": lambda text: each_char(lambda c: repr(float(c + "7" + c)), text),
}


def main():
    out = sys.stdout
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    out.write(json.dumps({"python": version, "unicode": unicodedata.unidata_version}) + "\n")
    for line in sys.stdin:
        kind, *arguments = json.loads(line)
        try:
            answer = {"ok": HANDLERS[kind](*arguments)}
        except Exception as error:  # noqa: BLE001 - the message is the result
            answer = {"error": str(error)}
        out.write(json.dumps(answer) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
