"""The schema parsers a configuration can name (``schema_parser``)."""

from enum import Enum


class ListenerSchemaParserType(Enum):
    GENERIC = "generic"
    ECMWF = "ecmwf"

    def __str__(self):
        return self.name.lower()
