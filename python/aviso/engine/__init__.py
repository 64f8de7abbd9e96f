"""The kinds of store a configuration can name (``notification_engine.type``)."""

from enum import Enum


class EngineType(Enum):
    ETCD_GRPC = "etcd_grpc"
    ETCD_REST = "etcd_rest"
    FILE_BASED = "file_based"

    def __str__(self):
        return self.name.lower()
