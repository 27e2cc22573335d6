"""The scenarios: ingest throughput (batch, single), fan-out latency and cost, and slow subscribers."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from harness import OUT, BenchError, CpuMeter, Server, rss_mb, start_server, stop_server
from stats import latency_summary, merge, rate
from workers import STREAM_PATH, Target, WorkerGroup, latencies_of, start_controllers, start_subscribers
from wsclient import upgrade_request

MEASURE, AFTER = 1, 2  # phase 0 is the warm-up
SETTLE_TIMEOUT = 20.0  # how long deliveries may trail the last ack before we stop waiting


@dataclass
class Options:
    seconds: float = 15.0
    warmup: float = 2.0
    client_procs: int = 2
    subscriber_procs: int = 2
    controllers: int | None = None
    window: int | None = None
    baseline_seconds: float = 5.0
    cutoff_timeout: float = 120.0
    laggards: int = 5
    laggard_rcvbuf: int = 4096
    events: list[str] = field(default_factory=list)
    token: str = ""
    sessions: bool = False  # controllers name sessions (exactly once), as `app.py simulate` does
    log_dir: Path = OUT  # where servers started by a scenario (relay) write their logs
    fill: int = 50_000_000  # history: readings stored before the reads are measured
    repeats: int = 20  # history: measured calls of each read after the first (cold) one
    read_budget: float = 60.0  # history: seconds after which a read stops repeating (slow reads on old code)


def target_of(server: Server, options: Options) -> Target:
    return Target(server.host, server.port, options.token, options.sessions)


# --- sampling ----------------------------------------------------------------------------------

class Sampler:
    """Once a second: server CPU and RSS, and the /healthz counters, stamped from `origin`."""

    def __init__(self, server: Server, origin: float, probe: Callable[[], dict[str, Any]] | None = None) -> None:
        self.server = server
        self.origin = origin
        self.probe = probe  # anything else worth recording each second
        self.process = server.process_info()
        self.cpu = CpuMeter(lambda: [self.process])
        self.samples: list[dict[str, Any]] = []

    def sample(self) -> dict[str, Any]:
        percent, _ = self.cpu.read()
        health = self.server.health()
        entry = {"t": round(time.time() - self.origin, 2), "server_cpu_pct": round(percent, 1),
                 "server_rss_mb": round(rss_mb(self.process), 1), "subscribers": health["subscribers"],
                 "subscribers_cut_off": health["subscribers_cut_off"],
                 "readings_committed": health["readings_committed"],
                 "readings_waiting": health["readings_waiting"], **(self.probe() if self.probe else {})}
        self.samples.append(entry)
        return entry

    def run_for(self, seconds: float, until: Callable[[dict[str, Any]], bool] | None = None) -> bool:
        """Sample until `seconds` pass or `until(sample)` is true; returns whether `until` ended it."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            if until is not None and until(self.sample()):
                return True
            if until is None:
                self.sample()
        return False


class Meters:
    """CPU of the server, of PostgreSQL and of our own load generators over one window; `others`: of
    more server processes, each as `<name>_cpu_pct`."""

    def __init__(self, server: Server, groups: list[WorkerGroup], others: dict[str, Server] | None = None) -> None:
        server_process = server.process_info()
        client_processes = [psutil.Process(pid) for group in groups for pid in group.pids]
        self.meters = {"server": cpu_of([server_process]), "load_generator": cpu_of(client_processes)}
        for name, other in (others or {}).items():
            self.meters[name] = cpu_of([other.process_info()])
        if server.pgdata is not None:  # an attached server's PostgreSQL is not ours to find
            self.meters["postgres"] = CpuMeter(server.postgres_processes)
        self.server_process = server_process
        self.machine_before = psutil.cpu_times()

    def restart(self) -> None:
        for meter in self.meters.values():
            meter.read()
        self.machine_before = psutil.cpu_times()

    def read(self) -> dict[str, float]:
        percents = {f"{name}_cpu_pct": round(meter.read()[0], 1) for name, meter in self.meters.items()}
        machine = self._machine()
        # Whatever else ran meanwhile (tests, builds) skews the numbers; this makes it visible.
        others = machine["machine_busy_pct_of_all_cores"] * (os.cpu_count() or 1) - sum(percents.values())
        return {**percents, **machine, "other_processes_cpu_pct": round(max(0.0, others), 1),
                "server_rss_mb": round(rss_mb(self.server_process), 1)}

    def _machine(self) -> dict[str, float]:
        """The whole machine, in % of all its cores: how busy, and how much the hypervisor took (steal)."""
        now = psutil.cpu_times()
        spent = {name: getattr(now, name) - getattr(self.machine_before, name) for name in now._fields}
        total = sum(spent.values()) or 1.0
        idle = spent["idle"] + spent.get("iowait", 0.0)
        return {"machine_busy_pct_of_all_cores": round(100 * (total - idle) / total, 1),
                "machine_steal_pct": round(100 * spent.get("steal", 0.0) / total, 1)}


def cpu_of(processes: list[psutil.Process]) -> CpuMeter:
    return CpuMeter(lambda: processes)


def require_connected(group: WorkerGroup, expected: int, what: str) -> None:
    if group.connected != expected:
        raise BenchError(f"only {group.connected} of {expected} {what} connected: {group.failures[:3]}")


def wait_for_subscriber_count(server: Server, expected: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := server.health()["subscribers"]) < expected:
        if time.monotonic() > deadline:
            raise BenchError(f"/healthz shows {seen} subscribers, expected {expected}")
        time.sleep(0.2)


# --- ingest throughput -------------------------------------------------------------------------

def run_throughput(server: Server, options: Options, controllers: int, batch: int, window: int) -> dict[str, Any]:
    """Windowed controllers as fast as acks allow; persisted readings/s from acks and from /healthz."""
    group = start_controllers(target_of(server, options), controllers, options.client_procs, options.events,
                              batch, window, rate=None)
    try:
        require_connected(group, controllers, "controllers")
        meters = Meters(server, [group])
        sampler = Sampler(server, time.time())
        committed_before = server.health()["readings_committed"]
        group.ask("go")
        time.sleep(options.warmup)
        group.ask("phase")
        meters.restart()
        started, committed_at_start = time.monotonic(), server.health()["readings_committed"]
        sampler.run_for(options.seconds)
        group.ask("phase")
        elapsed = time.monotonic() - started
        window_cpu = meters.read()
        committed_at_end = server.health()["readings_committed"]
        reports = group.ask("stop")
        committed_after = server.health()["readings_committed"]
    finally:
        group.close()

    acked_in_window = sum(report["counts"][MEASURE] for report in reports)
    acked_total = sum(sum(report["counts"]) for report in reports)
    return {
        "controllers": controllers, "batch": batch, "window_per_controller": window,
        "measured_seconds": round(elapsed, 2),
        "persisted_per_s_from_acks": round(rate(acked_in_window, elapsed)),
        "persisted_per_s_from_healthz": round(rate(committed_at_end - committed_at_start, elapsed)),
        "acked_total": acked_total,
        "committed_total_healthz": committed_after - committed_before,
        "sent_total": sum(report["sent"] for report in reports),
        "not_stored": sum(report["not_stored"] for report in reports),
        "unacked_messages_at_end": sum(report["unacked_messages"] for report in reports),
        "errors": [error for report in reports for error in report["errors"]][:5],
        "controller_closes": [report["closes"] for report in reports if report["closes"]],
        "ack_latency": latency_summary(merge(latencies_of(report, MEASURE) for report in reports)),
        **window_cpu,
        "samples": sampler.samples,
    }


# --- fan-out -----------------------------------------------------------------------------------

def run_fanout(server: Server, options: Options, subscribers: int, readings_per_s: float, seconds: float,
               extend: Callable[[Sampler], dict[str, Any]] | None = None,
               probe: Callable[[], dict[str, Any]] | None = None,
               controller_server: Server | None = None, others: dict[str, Server] | None = None) -> dict[str, Any]:
    """One paced controller, `subscribers` counting readers; `extend` keeps the controller going after
    the measured window (phase AFTER) while it watches something. The controller connects to
    `controller_server` if given (the relay), else to `server` like the subscribers; `others` are more
    server processes whose CPU is measured (see Meters)."""
    target = target_of(server, options)
    groups: list[WorkerGroup] = []
    try:
        already_subscribed = server.health()["subscribers"]
        readers = None
        if subscribers:
            readers = start_subscribers(target, subscribers, options.subscriber_procs)
            groups.append(readers)
            require_connected(readers, subscribers, "subscribers")
            wait_for_subscriber_count(server, already_subscribed + subscribers)
        controller = start_controllers(target_of(controller_server or server, options), 1, 1, options.events, 1, 1,
                                       rate=readings_per_s)
        groups.append(controller)
        require_connected(controller, 1, "controllers")

        meters = Meters(server, groups, others)
        go_time = time.time()
        sampler = Sampler(server, go_time, probe)
        controller.ask("go")
        time.sleep(options.warmup)
        for group in groups:
            group.ask("phase")
        meters.restart()
        started = time.monotonic()
        sampler.run_for(seconds)
        for group in groups:
            group.ask("phase")
        elapsed = time.monotonic() - started
        window_cpu = meters.read()
        extension = extend(sampler) if extend else None

        controller_report = controller.ask("stop")[0]
        acked_total = sum(controller_report["counts"])
        reader_reports = settle(readers, acked_total * subscribers) if readers else []
    finally:
        for group in reversed(groups):
            group.close()

    return fanout_result(subscribers, readings_per_s, elapsed, window_cpu, controller_report, reader_reports,
                         sampler, extension)


def settle(readers: WorkerGroup, expected: int) -> list[dict[str, Any]]:
    """Wait until every subscriber got every reading, or deliveries stop progressing; then the reports."""
    deadline, previous, still = time.monotonic() + SETTLE_TIMEOUT, -1, 0
    while time.monotonic() < deadline:
        received = sum(reply["received"] for reply in readers.ask("count"))
        if received >= expected:
            break
        still = still + 1 if received == previous else 0
        if still >= 4:  # two seconds without a single new delivery
            break
        previous = received
        time.sleep(0.5)
    return readers.ask("report")


def fanout_result(subscribers: int, readings_per_s: float, elapsed: float, window_cpu: dict[str, float],
                  controller_report: dict[str, Any], reader_reports: list[dict[str, Any]], sampler: Sampler,
                  extension: dict[str, Any] | None) -> dict[str, Any]:
    acked_total = sum(controller_report["counts"])
    per_subscriber = [count for report in reader_reports for count in report["per_subscriber"]]
    delivered = sum(per_subscriber)
    expected = acked_total * subscribers
    deliveries_in_window = sum(report["counts"][MEASURE] for report in reader_reports)
    deliveries_per_s = rate(deliveries_in_window, elapsed)
    reads = sum(report["reads"] for report in reader_reports)
    closes: dict[str, int] = {}
    for report in reader_reports:
        for code, count in report["closes"].items():
            closes[str(code)] = closes.get(str(code), 0) + count
    result = {
        "subscribers": subscribers, "readings_per_s_requested": readings_per_s,
        "measured_seconds": round(elapsed, 2),
        "readings_sent": controller_report["sent"], "readings_acked": acked_total,
        "readings_per_s_acked": round(rate(controller_report["counts"][MEASURE], elapsed), 1),
        "ack_latency": latency_summary(latencies_of(controller_report, MEASURE)),
        "controller_errors": controller_report["errors"],
        "deliveries_expected": expected, "deliveries_received": delivered,
        "fraction_delivered": round(delivered / expected, 6) if expected else None,
        "fewest_received_by_one_subscriber": min(per_subscriber) if per_subscriber else None,
        "most_received_by_one_subscriber": max(per_subscriber) if per_subscriber else None,
        # Each value is its send time, so a value not above the previous one on the same stream is a
        # reading received twice or out of order.
        "received_not_newer": sum(report["not_newer"] for report in reader_reports),
        # Over the whole run: more than 1 when the server's writes to a subscriber bunch up (less work for us).
        "frames_per_read": round(delivered / reads, 2) if reads else None,
        "subscriber_closes": closes,
        "deliveries_per_s": round(deliveries_per_s),
        "latency": latency_summary(merge(latencies_of(report, MEASURE) for report in reader_reports)),
        "latency_to_read": latency_summary(merge(latencies_of(report, MEASURE, "read_latencies")
                                                 for report in reader_reports)),
        **window_cpu,
        "server_cpu_pct_per_10k_deliveries_per_s":
            round(window_cpu["server_cpu_pct"] / (deliveries_per_s / 10_000), 1) if deliveries_per_s else None,
        "samples": sampler.samples,
    }
    if extension is not None:
        result["after_window"] = {
            **extension,
            "latency": latency_summary(merge(latencies_of(report, AFTER) for report in reader_reports)),
            "latency_to_read": latency_summary(merge(latencies_of(report, AFTER, "read_latencies")
                                                     for report in reader_reports)),
        }
    return result


# --- laggards ----------------------------------------------------------------------------------

def open_laggards(server: Server, count: int, receive_buffer: int) -> list[socket.socket]:
    """Sockets that finish the upgrade handshake and then never read a byte."""
    laggards = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Set before connect(): the window the server sees is fixed during the handshake.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect((server.host, server.port))
        sock.sendall(upgrade_request(server.host, server.port, STREAM_PATH))
        laggards.append(sock)
    return laggards


def watch_laggards(laggards: int, readers: int, cut_off_before: int,
                   timeout: float) -> Callable[[Sampler], dict[str, Any]]:
    """An `extend` for run_fanout: keep the load on until the laggards are gone, however they went:
    cut off by the buffer limit (counted in subscribers_cut_off) or dropped some other way."""
    def extend(sampler: Sampler) -> dict[str, Any]:
        started = time.monotonic()
        all_gone = sampler.run_for(timeout, until=lambda sample: sample["subscribers"] <= readers)
        return {"seconds_watched": round(time.monotonic() - started, 1), "all_gone": all_gone,
                "gone_at_s": departures(sampler.samples, readers + laggards, "subscribers", -1),
                "counted_as_cut_off_at_s": departures(sampler.samples, cut_off_before, "subscribers_cut_off", +1)}
    return extend


def departures(samples: list[dict[str, Any]], start: int, key: str, step: int) -> list[float]:
    """When (seconds after the first reading) `key` moved by `step`, once per unit moved."""
    times, level = [], start
    for sample in samples:
        while (sample[key] - level) * step > 0:
            level += step
            times.append(sample["t"])
    return times


def kernel_send_queues(server_port: int, peer_ports: list[int]) -> list[int]:
    """Bytes the server's kernel holds for each peer (tx_queue in /proc/net/tcp): invisible to the
    server's own buffer accounting and not part of its RSS."""
    wanted = {port: 0 for port in peer_ports}
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        local_port, remote_port = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if local_port == server_port and remote_port in wanted:
            wanted[remote_port] = int(fields[4].split(":")[0], 16)
    return [wanted[port] for port in peer_ports]


# --- the scenarios, with the targets ---------------------------------------------------

def target(name: str, measured: Any, met: bool | None) -> dict[str, Any]:
    return {"target": name, "measured": measured, "met": met}


def batch(server: Server, options: Options) -> dict[str, Any]:
    result = run_throughput(server, options, options.controllers or 4, batch=500, window=options.window or 4)
    per_s = result["persisted_per_s_from_acks"]
    result["targets"] = [target(">= 50,000 readings/s persisted (batches of 500)", per_s, per_s >= 50_000)]
    return result


def single(server: Server, options: Options) -> dict[str, Any]:
    result = run_throughput(server, options, options.controllers or 8, batch=1, window=options.window or 64)
    per_s = result["persisted_per_s_from_acks"]
    result["targets"] = [target(">= 10,000 readings/s persisted (one reading per message)", per_s, per_s >= 10_000)]
    return result


def fanout(server: Server, options: Options, subscribers: int, readings_per_s: float) -> dict[str, Any]:
    """A controller-only baseline first, so "ingestion unaffected" has something to be compared with."""
    baseline = run_fanout(server, options, 0, readings_per_s, options.baseline_seconds)
    result = run_fanout(server, options, subscribers, readings_per_s, options.seconds)
    result["baseline_without_subscribers"] = {key: baseline[key] for key in (
        "readings_per_s_acked", "ack_latency", "server_cpu_pct", "server_rss_mb")}
    net_cpu = result["server_cpu_pct"] - baseline["server_cpu_pct"]
    result["server_cpu_pct_net_of_baseline"] = round(net_cpu, 1)
    per_10k = result["server_cpu_pct_per_10k_deliveries_per_s"]
    result["targets"] = [
        target("every reading delivered to every subscriber", result["fraction_delivered"],
               result["fraction_delivered"] == 1.0),
        target("p99 send-to-receive < 20 ms", result["latency"]["p99_ms"],
               result["latency"]["p99_ms"] is not None and result["latency"]["p99_ms"] < 20),
        target("ingestion unaffected (acked rate >= 99% of requested, ack p99 <= baseline p99 + 5 ms)",
               {"acked_per_s": result["readings_per_s_acked"], "ack_p99_ms": result["ack_latency"]["p99_ms"],
                "baseline_ack_p99_ms": baseline["ack_latency"]["p99_ms"]},
               ingestion_unaffected(result, baseline, readings_per_s)),
        target("<= 10% of one core per 10,000 deliveries/s", per_10k, per_10k is not None and per_10k <= 10),
    ]
    return result


def ingestion_unaffected(result: dict[str, Any], baseline: dict[str, Any], readings_per_s: float) -> bool:
    loaded, alone = result["ack_latency"]["p99_ms"], baseline["ack_latency"]["p99_ms"]
    if loaded is None or alone is None:
        return False
    return result["readings_per_s_acked"] >= 0.99 * readings_per_s and loaded <= alone + 5.0


def fanout_1000(server: Server, options: Options) -> dict[str, Any]:
    return fanout(server, options, 1000, 20)


def fanout_300(server: Server, options: Options) -> dict[str, Any]:
    return fanout(server, options, 300, 100)


def laggards(server: Server, options: Options, subscribers: int = 100, readings_per_s: float = 100) -> dict[str, Any]:
    """The same load twice: 100 readers alone, then with readers that never read, watched until cut off."""
    without = run_fanout(server, options, subscribers, readings_per_s, options.seconds)
    health = server.health()
    cut_off_before, subscribed_before = health["subscribers_cut_off"], health["subscribers"]
    rss_before = rss_mb(server.process_info())
    sockets = open_laggards(server, options.laggards, options.laggard_rcvbuf)
    laggard_ports = [sock.getsockname()[1] for sock in sockets]
    try:
        wait_for_subscriber_count(server, subscribed_before + options.laggards)
        with_laggards = run_fanout(
            server, options, subscribers, readings_per_s, options.seconds,
            extend=watch_laggards(options.laggards, subscribed_before + subscribers, cut_off_before,
                                  options.cutoff_timeout),
            probe=lambda: {"laggard_kernel_queued_bytes": kernel_send_queues(server.port, laggard_ports)})
    finally:
        for sock in sockets:
            sock.close()
    after = with_laggards["after_window"]
    rss = [sample["server_rss_mb"] for sample in with_laggards["samples"]]
    kernel_queued = [max(sample["laggard_kernel_queued_bytes"] or [0]) for sample in with_laggards["samples"]]
    result = {
        "subscribers": subscribers, "laggards": options.laggards, "laggard_rcvbuf": options.laggard_rcvbuf,
        "readings_per_s": readings_per_s,
        "without_laggards": without, "with_laggards": with_laggards,
        "server_rss_mb_before_laggards": round(rss_before, 1),
        "server_rss_mb_max_with_laggards": max(rss) if rss else None,
        "server_rss_mb_last": rss[-1] if rss else None,
        "laggard_kernel_queued_bytes_max": max(kernel_queued) if kernel_queued else None,
        "gone_at_s": after["gone_at_s"], "counted_as_cut_off_at_s": after["counted_as_cut_off_at_s"],
    }
    p99_without, p99_with = without["latency"]["p99_ms"], with_laggards["latency"]["p99_ms"]
    last_gone = after["gone_at_s"][-1] if after["all_gone"] else None
    result["targets"] = [
        target("the 100 see no change in latency (p99 with laggards <= p99 without + 5 ms)",
               {"p99_without_ms": p99_without, "p99_with_ms": p99_with,
                "fraction_delivered_with": with_laggards["fraction_delivered"]},
               p99_with is not None and p99_without is not None and p99_with <= p99_without + 5.0
               and with_laggards["fraction_delivered"] == 1.0),
        target("the laggards are cut off within seconds (all gone <= 10 s after the first reading)",
               {"gone_at_s": after["gone_at_s"] if after["all_gone"] else "not all within the watch",
                "counted_as_cut_off_at_s": after["counted_as_cut_off_at_s"]},
               last_gone is not None and last_gone <= 10.0),
        target("server memory bounded (max RSS with laggards <= RSS before + 50 MB)",
               {"before_mb": result["server_rss_mb_before_laggards"],
                "max_mb": result["server_rss_mb_max_with_laggards"]},
               bool(rss) and max(rss) <= rss_before + 50.0),
    ]
    return result


# --- the relay: two server processes sharing one database ---------------------------------------

RELAY_ENV = {"BROADCAST_ACROSS_PROCESSES": "1"}
WARM_UP_SECONDS = 1.0  # after --warmup


def relay(server: Server, options: Options, subscribers: int, readings_per_s: float) -> dict[str, Any]:
    """The same load twice: on one process (`server`, relay off), then across two processes with the
    relay on, the controller on process A and the subscribers on process B. A and B are started here
    and share `server`'s database (its embedded PostgreSQL, which `server` keeps running, idle)."""
    # The first time a bench process opens this many subscribers, they cost the load generator about twice
    # the CPU (system time) that they cost on later runs against the same server; whatever warms up, a short
    # run first, not counted, spares the first measured run from taking that CPU from the server.
    warm_up = run_fanout(server, options, subscribers, readings_per_s, WARM_UP_SECONDS)
    one_process = run_fanout(server, options, subscribers, readings_per_s, options.seconds)
    secret = server.env.get("JWT_SECRET", "")
    if not secret:
        raise BenchError("the relay's processes need the JWT_SECRET of the server the token is for")
    url = server.shared_database_url()
    started: list[Server] = []
    try:
        for _ in "AB":
            started.append(start_server(None, {**server.extra_env, **RELAY_ENV}, options.log_dir, server.app_dir,
                                        database_url=url, jwt_secret=secret, pgdata=server.pgdata))
        process_a, process_b = started
        states = [each.health()["relay"] for each in started]
        if states != ["listening", "listening"]:
            raise BenchError(f"relay not listening in both processes: {states}")
        relayed = run_fanout(process_b, options, subscribers, readings_per_s, options.seconds,
                             controller_server=process_a, others={"process_a": process_a, "idle_server": server})
    finally:
        for each in reversed(started):
            stop_server(each)

    # run_fanout's "server" is the subscribers' process, B; name it so, beside A.
    relayed["process_b_cpu_pct"] = relayed["server_cpu_pct"]
    deliveries_per_s = relayed["deliveries_per_s"]
    for name in ("process_a", "process_b", "postgres"):
        cpu = relayed.get(f"{name}_cpu_pct")
        relayed[f"{name}_cpu_pct_per_10k_deliveries_per_s"] = (
            round(cpu / (deliveries_per_s / 10_000), 1) if cpu is not None and deliveries_per_s else None)
    postgres = one_process.get("postgres_cpu_pct")
    one_process["postgres_cpu_pct_per_10k_deliveries_per_s"] = (
        round(postgres / (one_process["deliveries_per_s"] / 10_000), 1)
        if postgres is not None and one_process["deliveries_per_s"] else None)
    result = {"subscribers": subscribers, "readings_per_s_requested": readings_per_s,
              "one_process": one_process, "relay": relayed,
              "warm_up_not_counted": {key: warm_up[key] for key in (
                  "measured_seconds", "fraction_delivered", "load_generator_cpu_pct", "server_cpu_pct")},
              "relay_env": RELAY_ENV, "relay_database": "the first server's (embedded unless DATABASE_URL)"}
    p99 = relayed["latency"]["p99_ms"]
    per_10k = relayed["process_b_cpu_pct_per_10k_deliveries_per_s"]
    result["targets"] = [
        target("relay: every reading delivered to every subscriber on process B", relayed["fraction_delivered"],
               relayed["fraction_delivered"] == 1.0),
        target("relay: no reading received twice or out of order", relayed["received_not_newer"],
               relayed["received_not_newer"] == 0),
        target("relay: p99 send-to-receive < 20 ms (the fan-out target)", p99, p99 is not None and p99 < 20),
        target("relay: process B <= 10% of one core per 10,000 deliveries/s (the fan-out target)", per_10k,
               per_10k is not None and per_10k <= 10),
    ]
    return result


def relay_300(server: Server, options: Options) -> dict[str, Any]:
    return relay(server, options, 300, 100)


SCENARIOS: dict[str, Callable[[Server, Options], dict[str, Any]]] = {
    "batch": batch, "single": single, "fanout-1000": fanout_1000, "fanout-300": fanout_300, "laggards": laggards,
    "relay-300": relay_300,
}
