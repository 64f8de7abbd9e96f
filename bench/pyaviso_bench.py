"""pyaviso 1.0.1's side of bench/run.sh, through its Python API (configuration from the AVISO_*
environment variables and ~/.aviso). Each mode prints one line of numbers:

  throughput COUNT THREADS             -> throughput COUNT SECONDS PER_SECOND
  latency COUNT GAP_MS TIMEOUT_S       -> latency N P50 P95 P99 MAX   (ms)
  prime                                -> leaves pyaviso's catch-up state at the newest revision
  catchup COUNT TIMEOUT_S              -> catchup DELIVERED SECONDS PER_SECOND (gives up after 20 s
                                          without a delivery: pyaviso loses what is past 10,000)
  scale LISTENERS BASES COUNT GAP_MS BURST THREADS TIMEOUT_S
                                       -> scale LISTENERS BASES N P50 P95 P99 MAX DELIVERED SECONDS PER_SECOND

Listeners run in daemon threads with `function` triggers; the process exits when measuring ends.
"""

import concurrent.futures
import sys
import threading
import time

from pyaviso import NotificationManager


def flight(i, payload=None):
    n = {"event": "flight", "country": "Italy", "airport": "fco", "date": "20210101", "number": f"P{i}"}
    if payload is not None:
        n["payload"] = payload
    return n


def notify_all(notifications, threads):
    """Sends the notifications with `threads` threads, one NotificationManager each."""
    local = threading.local()

    def send(n):
        if not hasattr(local, "manager"):
            local.manager = NotificationManager()
        local.manager.notify(n)

    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(send, notifications))


def start_listening(listeners, **options):
    threading.Thread(target=NotificationManager().listen, kwargs={"listeners": {"listeners": listeners}, **options},
                     daemon=True).start()


def wait_until(condition, timeout_s):
    deadline = time.time() + timeout_s
    while not condition() and time.time() < deadline:
        time.sleep(0.01)


def percentiles(values):
    values = sorted(values)
    if not values:
        return "0 nan nan nan nan"
    pick = lambda q: values[round((len(values) - 1) * q)]
    return f"{len(values)} {pick(0.5):.2f} {pick(0.95):.2f} {pick(0.99):.2f} {values[-1]:.2f}"


def throughput(count, threads):
    start = time.perf_counter()
    notify_all([flight(i, "x") for i in range(count)], threads)
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

    start_listening([{"event": "flight", "request": {"country": "italy"},
                      "triggers": [{"type": "function", "function": record}]}], now=True)
    time.sleep(3)
    manager = NotificationManager()
    for i in range(count):
        sent[i] = time.perf_counter()
        manager.notify(flight(i))
        time.sleep(gap_ms / 1000)
    wait_until(lambda: len(latencies) >= count, timeout_s)
    print(f"latency {percentiles(latencies)}")


def prime():
    """pyaviso saves its catch-up position only when it receives something."""
    received = threading.Event()
    start_listening([{"event": "flight", "request": {"country": "italy"},
                      "triggers": [{"type": "function", "function": lambda n: received.set()}]}], now=True)
    time.sleep(3)
    NotificationManager().notify(flight(999999999))
    received.wait(30)
    time.sleep(0.5)
    print("primed" if received.is_set() else "not primed")


def catchup(count, timeout_s):
    delivered = [0]
    last = [None]

    def record(n):
        delivered[0] += 1
        last[0] = time.perf_counter()

    start = time.perf_counter()
    start_listening([{"event": "flight", "request": {"country": "italy"},
                      "triggers": [{"type": "function", "function": record}]}], catchup=True)
    stalled = lambda: time.perf_counter() - (last[0] or start) > 20
    wait_until(lambda: delivered[0] >= count or stalled(), timeout_s)
    seconds = (last[0] or time.perf_counter()) - start
    print(f"catchup {delivered[0]} {seconds:.3f} {delivered[0] / seconds:.0f}")


def scale(listeners, bases, count, gap_ms, burst, threads, timeout_s):
    total = count + burst
    sent = [None] * total
    arrived = [None] * total
    arrivals = [0]
    lock = threading.Lock()

    def record(n):
        at = time.perf_counter()
        number = int(n["request"]["number"])
        with lock:
            if arrived[number] is None:
                arrived[number] = at
            arrivals[0] += 1

    def lane(number):
        listener = number % listeners
        return {"event": "lane", "site": f"s{listener % bases}", "lane": f"l{listener}", "number": str(number)}

    start_listening([{"event": "lane", "request": {"site": f"s{i % bases}", "lane": f"l{i}"},
                      "triggers": [{"type": "function", "function": record}]} for i in range(listeners)], now=True)
    time.sleep(3 + listeners / 200)
    manager = NotificationManager()
    for number in range(count):
        sent[number] = time.perf_counter()
        manager.notify(lane(number))
        time.sleep(gap_ms / 1000)
    wait_until(lambda: arrivals[0] >= count, timeout_s)
    latencies = [(arrived[i] - sent[i]) * 1000 for i in range(count) if arrived[i] is not None]
    burst_start = time.perf_counter()
    notify_all([lane(number) for number in range(count, total)], threads)
    wait_until(lambda: arrivals[0] >= total, timeout_s)
    seconds = time.perf_counter() - burst_start
    delivered = sum(1 for at in arrived[count:] if at is not None)
    print(f"scale {listeners} {bases} {percentiles(latencies)} {delivered} {seconds:.3f} {delivered / seconds:.0f}")


if __name__ == "__main__":
    mode, numbers = sys.argv[1], [float(a) for a in sys.argv[2:]]
    ints = [int(n) for n in numbers]
    if mode == "throughput":
        throughput(ints[0], ints[1] if len(ints) > 1 else 1)
    elif mode == "latency":
        latency(ints[0], numbers[1], numbers[2])
    elif mode == "prime":
        prime()
    elif mode == "catchup":
        catchup(ints[0], numbers[1])
    elif mode == "scale":
        scale(*ints[:4], ints[4], ints[5], numbers[6])
    else:
        sys.exit(f"unknown mode {mode}")
