"""pyaviso 1.0.1's side of bench/stores.sh, through its Python API (configuration from the
AVISO_* environment variables): `throughput COUNT` and `latency COUNT GAP_MS TIMEOUT_S`."""

import sys
import threading
import time

from pyaviso import NotificationManager


def notification(i, payload=None):
    n = {"event": "flight", "country": "Italy", "airport": "fco", "date": "20210101", "number": f"P{i}"}
    if payload is not None:
        n["payload"] = payload
    return n


def throughput(count):
    manager = NotificationManager()
    start = time.perf_counter()
    for i in range(count):
        manager.notify(notification(i, "x"))
    seconds = time.perf_counter() - start
    print(f"throughput {count} {seconds:.3f} {count / seconds:.0f}")


def latency(count, gap_ms, timeout_s):
    sent = [None] * count
    latencies = []

    def record(n):
        arrived = time.perf_counter()
        index = int(n["request"]["number"][1:])
        if sent[index] is not None:
            latencies.append((arrived - sent[index]) * 1000)

    listeners = {"listeners": [{"event": "flight", "request": {"country": "italy"},
                                "triggers": [{"type": "function", "function": record}]}]}
    threading.Thread(target=NotificationManager().listen, kwargs={"listeners": listeners, "now": True},
                     daemon=True).start()
    time.sleep(3)
    manager = NotificationManager()
    for i in range(count):
        sent[i] = time.perf_counter()
        manager.notify(notification(i))
        time.sleep(gap_ms / 1000)
    deadline = time.time() + timeout_s
    while len(latencies) < count and time.time() < deadline:
        time.sleep(0.05)
    values = sorted(latencies)
    pick = lambda q: values[round((len(values) - 1) * q)]
    print(f"latency {len(values)} {pick(0.5):.2f} {pick(0.95):.2f} {pick(0.99):.2f} {values[-1]:.2f}")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "throughput":
        throughput(int(sys.argv[2]))
    else:
        latency(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
