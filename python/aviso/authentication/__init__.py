"""The kinds of authentication a configuration can name (``auth_type``)."""

from enum import Enum


class AuthType(Enum):
    ECMWF = "ecmwf"
    OPENID = "openid"
    PLAIN = "plain"
    ETCD = "etcd"
    NONE = "none"

    def __str__(self):
        return self.name.lower()
