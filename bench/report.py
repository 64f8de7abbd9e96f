"""Turns the numbers bench/run.sh recorded (one line each: a name, then values) into one
Markdown table, ours next to pyaviso's, with the targets of the performance issue, and writes it
into docs/benchmarks.md between the bench-results markers."""

import argparse
import math
import re
import sys

BEGIN, END = "<!-- bench-results:begin -->", "<!-- bench-results:end -->"


def load(path):
    results = {}
    for line in open(path):
        name, *values = line.split()
        results[name] = [float(v) if re.fullmatch(r"-?[0-9.]+|nan", v) else v for v in values]
    return results


def number(value, digits=0):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def times(ours, theirs, higher_is_better=True):
    """How many times better ours is."""
    if not ours or not theirs or math.isnan(ours) or math.isnan(theirs):
        return None
    return ours / theirs if higher_is_better else theirs / ours


def verdict(ok):
    return "met" if ok else "**missed**"


class Table:
    def __init__(self, results):
        self.r = results
        self.rows = []

    def get(self, name, index=0):
        values = self.r.get(name)
        if not values or index >= len(values):
            return None
        return values[index]

    def row(self, measure, ours="", theirs="", ratio=None, target="", ok=None):
        ratio_text = f"{number(ratio, 1)}×" if ratio is not None else ""
        target_text = f"{target}: {verdict(ok)}" if target and ok is not None else target
        self.rows.append(f"| {measure} | {ours} | {theirs} | {ratio_text} | {target_text} |")

    def latency(self, name):
        values = self.r.get(name)
        if not values or len(values) < 5:
            return "n/a", None
        n, p50, p95, p99, worst = values[:5]
        return f"{number(p50, 2)} / {number(p95, 2)} / {number(p99, 2)} / {number(worst, 2)} ({int(n)})", p99

    def catchup(self, name, wanted):
        values = self.r.get(name)
        if not values or len(values) < 3:
            return "n/a", None
        delivered, seconds, rate = values[:3]
        if delivered < wanted:
            return f"{int(delivered):,} of {wanted:,} delivered, then nothing for 20 s", None
        return f"{number(seconds, 2)} s ({number(rate)}/s)", seconds

    def build(self):
        get = self.get
        ours, theirs = get("key_ms"), get("key_ms", 1)
        self.row("`aviso key`, whole process, median ms", number(ours, 2), number(theirs, 2),
                 times(ours, theirs, False))
        ours, theirs = get("cli_notify_ms"), get("cli_notify_ms", 1)
        self.row("CLI `notify` on etcd, median ms per call", number(ours, 2), number(theirs, 2),
                 times(ours, theirs, False), "≤ 15 ms", ours is not None and ours <= 15)
        ours, theirs = get("lib_sequential"), get("lib_sequential", 1)
        self.row("library notify one after the other, notifications/s", number(ours), number(theirs),
                 times(ours, theirs))
        ours, theirs = get("lib_concurrent"), get("lib_concurrent", 1)
        best_theirs = max(v for v in (theirs, get("lib_sequential", 1), 0) if v is not None)
        ratio = times(ours, best_theirs)
        self.row("library notify, ours 64 in flight (`etcd_rest`), pyaviso 8 threads, notifications/s",
                 number(ours), number(theirs), ratio, "≥ 5,000/s and ≥ 50× pyaviso",
                 ours is not None and ours >= 5000 and ratio is not None and ratio >= 50)
        ours = get("lib_concurrent_grpc")
        self.row("library notify, 64 in flight (`etcd_grpc`), notifications/s", number(ours), "", None,
                 "≥ 5,000/s", ours is not None and ours >= 5000)

        # The Python API: bench/pyaviso_bench.py unchanged, under our package and under pyaviso.
        ours, theirs = get("python_sequential"), get("lib_sequential", 1)
        ratio = times(ours, theirs)
        self.row("Python API notify one after the other (`pyaviso_bench.py throughput N 1`), notifications/s",
                 number(ours), number(theirs), ratio, "≥ 10× pyaviso", ratio is not None and ratio >= 10)
        ours, theirs = get("python_threads"), get("lib_concurrent", 1)
        ratio = times(ours, theirs)
        self.row("Python API notify from 8 threads, notifications/s", number(ours), number(theirs), ratio,
                 "≥ 10× pyaviso", ratio is not None and ratio >= 10)

        text, p99 = self.latency("latency_ours")
        self.row("notify→trigger latency p50 / p95 / p99 / max ms (count), ours `etcd_rest` watch", text, "",
                 None, "p99 ≤ 10 ms", p99 is not None and p99 <= 10)
        text, p99_grpc = self.latency("latency_ours_grpc")
        self.row("notify→trigger latency, ours `etcd_grpc` watch", text, "", None, "p99 ≤ 10 ms",
                 p99_grpc is not None and p99_grpc <= 10)
        best = min(v for v in (p99, p99_grpc, math.inf) if v is not None)
        for polling, label in (("0", "`polling_interval: 0` (polls without pause)"),
                               ("1", "`polling_interval: 1`"), ("30", "default `polling_interval: 30`")):
            text, their_p99 = self.latency(f"latency_pyaviso_{polling}")
            ratio = times(best, their_p99, False)
            smallest = polling == "0"
            self.row(f"notify→trigger latency, pyaviso at {label}", "", text, ratio,
                     "ours ≥ 50× better at p99" if smallest else "",
                     (ratio is not None and ratio >= 50) if smallest else None)

        alone_text, alone_p99 = self.latency("latency_plugin_alone")
        self.row("notify→trigger latency through a plugin call (no-op plugin, then the clock), alone",
                 alone_text)
        text, with_p99 = self.latency("latency_plugin_neighbours")
        ratio = with_p99 / alone_p99 if with_p99 and alone_p99 else None
        self.row("the same next to hostile neighbours on its base key (looping, allocating, flooding, "
                 "trapping plugins, slow commands)", text, "", None,
                 f"p99 ≤ 2× alone (here {number(ratio, 1)}×)", ratio is not None and ratio <= 2)

        for n in (5000, 100000, 20000):
            if f"catchup_{n}_ours_plugin" not in self.r:
                continue
            plugin, seconds = self.catchup(f"catchup_{n}_ours_plugin", n)
            big = n == 100000
            self.row(f"catch-up of {n:,} missed notifications, ours through a Rust plugin (`etcd_rest`)", plugin,
                     "", None, "≤ 5 s" if big else "", (seconds is not None and seconds <= 5) if big else None)
            grpc, _ = self.catchup(f"catchup_{n}_ours_plugin_grpc", n)
            self.row(f"catch-up of {n:,}, ours through a Rust plugin (`etcd_grpc`)", grpc)
            ours_text, ours_seconds = self.catchup(f"catchup_{n}_ours_function", n)
            their_text, their_seconds = self.catchup(f"catchup_{n}_pyaviso_function", n)
            self.row(f"catch-up of {n:,}, `function` triggers (Rust closure / Python function)", ours_text,
                     their_text, times(ours_seconds, their_seconds, False))
            python_text, _ = self.catchup(f"catchup_{n}_ours_python", n)
            # pyaviso stops after 10,000: compared by rate over what each delivered.
            ours_rate, their_rate = get(f"catchup_{n}_ours_python", 2), get(f"catchup_{n}_pyaviso_function", 2)
            ratio = times(ours_rate, their_rate)
            self.row(f"catch-up of {n:,} through a Python `function` trigger, Python API, ours / pyaviso "
                     "(ratio of rates)", python_text, their_text, ratio, "≥ 10× pyaviso" if big else "",
                     (ratio is not None and ratio >= 10) if big else None)
        values = self.r.get("catchup_onecore")
        if values and len(values) >= 3:
            self.row(f"catch-up of {int(values[0]):,} through a Rust plugin, ours pinned to one core, notifications/s",
                     number(values[2]), "", None, "≥ 20,000/s", values[2] >= 20000)
        for name, label, target in (("noop", "no-op Rust plugin", True), ("echo", "`echo` (built-in Rust plugin)", True),
                                    ("flight_summary", "Python plugin (componentize-py example)", False)):
            values = self.r.get(f"dispatch_{name}")
            rate = values[2] if values and len(values) >= 3 else None
            self.row(f"plugin dispatch on one core, {label}, notifications/s", number(rate), "", None,
                     "≥ 20,000/s" if target else "", (rate is not None and rate >= 20000) if target else None)

        for n in (1, 100):
            values = self.r.get(f"idle_{n}")
            if not values or len(values) < 4:
                continue
            rss, cpu, their_rss, their_cpu = values[:4]
            self.row(f"idle `aviso listen`, {n} listener(s): RSS MiB / CPU % (pyaviso polling every 30 s)",
                     f"{number(rss, 1)} / {number(cpu, 2)}", f"{number(their_rss, 1)} / {number(their_cpu, 2)}",
                     times(rss, their_rss, False), "≤ 25 MiB, < 1 % CPU" if n == 100 else "",
                     (rss <= 25 and cpu < 1) if n == 100 else None)

        for listeners, bases in ((1, 1), (10, 1), (100, 1), (1000, 1), (100, 100), (1000, 100)):
            ours, theirs = self.r.get(f"scale_{listeners}_{bases}_ours"), self.r.get(f"scale_{listeners}_{bases}_pyaviso")

            def cell(values):
                if not values or len(values) < 8:
                    return "n/a", None, None
                n, p50, _, p99, _, delivered, _, rate = values[:8]
                return (f"p50 {number(p50, 1)} / p99 {number(p99, 1)} ms ({int(n)}); {number(rate)}/s "
                        f"({int(delivered)})", p99, rate)
            ours_text, ours_p99, _ = cell(ours)
            their_text, their_p99, _ = cell(theirs)
            where = "one base key" if bases == 1 else f"{bases} base keys"
            self.row(f"{listeners:,} listener(s) on {where}: latency, then a burst's delivery rate",
                     ours_text, their_text, times(ours_p99, their_p99, False))

        values = self.r.get("serve_idle")
        if values and len(values) >= 2:
            self.row("idle `aviso serve`, 100 tenants × 10 listeners: RSS MiB / CPU %",
                     f"{number(values[0], 1)} / {number(values[1], 2)}")
        alone_text, alone_p99 = self.latency("serve_latency_alone")
        self.row("`aviso serve`: a quiet tenant's notify→trigger latency (a `post` to a local server), alone",
                 alone_text)
        text, with_p99 = self.latency("serve_latency_hostile")
        ratio = with_p99 / alone_p99 if with_p99 and alone_p99 else None
        self.row("the same next to a hostile tenant at full load (looping and flooding plugins, slow "
                 "commands, a notification of its own beside each)", text, "", None,
                 f"p99 ≤ 1.5× alone (here {number(ratio, 1)}×)", ratio is not None and ratio <= 1.5)
        values = self.r.get("serve_fanout")
        if values and len(values) >= 2:
            self.row("`aviso serve`: one notification to 1,000 tenant listeners (100 × 10), s until the last "
                     f"trigger ran ({int(values[0]):,} ran)", number(values[1], 3))

        one = self.get("rest_etcd_grpc_1", 2)
        many = self.get("rest_etcd_grpc_100", 2)
        self.row("aviso-rest: notifications/s from 64 HTTP clients on one base key (etcd_grpc engine)",
                 number(one), "", None, "≥ 10,000/s", one is not None and one >= 10000)
        share = many / one if many and one else None
        self.row("the same spread over 100 base keys", number(many), "", None,
                 f"≥ 80 % of one base key (here {number(share * 100 if share else None)} %)",
                 share is not None and share >= 0.8)
        gateway_one, gateway_many = self.get("rest_etcd_rest_1", 2), self.get("rest_etcd_rest_100", 2)
        self.row("aviso-rest through etcd's JSON gateway (etcd_rest engine): one base key / 100 base keys",
                 f"{number(gateway_one)} / {number(gateway_many)}")
        values = self.r.get("auth_latency")
        if values and len(values) >= 5:
            n, d50, d99, p50, p99 = values[:5]
            self.row(f"aviso-auth: a range request's p50 / p99 ms straight to etcd → through aviso-auth "
                     f"({int(n):,} each, caches warm)",
                     f"{number(d50, 2)} / {number(d99, 2)} → {number(p50, 2)} / {number(p99, 2)} "
                     f"(+{number(p50 - d50, 2)} ms at p50)")
        return self.rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--date", required=True)
    parser.add_argument("--machine", required=True)
    parser.add_argument("--versions", required=True)
    parser.add_argument("--quick", default="0")
    parser.add_argument("--write")
    args = parser.parse_args()
    rows = Table(load(args.results)).build()
    quick = " QUICK=1 (smaller counts): not for comparison with full runs." if args.quick == "1" else ""
    block = "\n".join([
        f"Run on {args.date}: {args.machine}. {args.versions}.{quick}",
        "",
        "| measure | aviso (Rust) | pyaviso 1.0.1 | aviso better by | target |",
        "|---|---:|---:|---:|---|",
        *rows,
    ])
    print(block)
    if args.write:
        text = open(args.write).read()
        if BEGIN not in text or END not in text:
            sys.exit(f"{args.write} has no {BEGIN} ... {END} markers")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        open(args.write, "w").write(f"{head}{BEGIN}\n{block}\n{END}{tail}")
        print(f"written to {args.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
