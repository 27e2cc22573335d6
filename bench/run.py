"""Benchmark WebMACS: `.venv/bin/python bench/run.py --scenario all` (see bench/README.md)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench modules sit next to this file

from dashboard import dashboard  # noqa: E402
from harness import (  # noqa: E402
    OUT,
    ROOT,
    BenchError,
    Server,
    attach_server,
    code_version,
    raise_fd_limit,
    start_server,
    stop_server,
)
from history import HISTORY_EVENTS, PURGE_ACK_P99_FACTOR, history  # noqa: E402
from scenarios import RELAY_ENV, SCENARIOS, Options  # noqa: E402
from stats import describe_latency, verdict  # noqa: E402

EVENT_PREFIX = "bench_evt_"
LONG_SCENARIOS = {"history": history, "dashboard": dashboard}  # run only when named: not part of `all`
RELAY_ENV_TEXT = " ".join(f"{key}={value}" for key, value in RELAY_ENV.items())


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    if args.url and not args.server_pid:
        cli.error("--url needs --server-pid (CPU and RSS are read from that process)")
    if args.fill < 1:
        cli.error("--fill must be at least 1")
    raise_fd_limit()
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    events = args.events or (HISTORY_EVENTS if args.scenario == "history" else 4)
    options = Options(seconds=args.seconds, warmup=args.warmup, client_procs=args.client_procs,
                      subscriber_procs=args.subscriber_procs, controllers=args.controllers, window=args.window,
                      baseline_seconds=args.baseline_seconds, cutoff_timeout=args.cutoff_timeout,
                      laggards=args.laggards, laggard_rcvbuf=args.laggard_rcvbuf,
                      events=[f"{EVENT_PREFIX}{n}" for n in range(events)], log_dir=args.out,
                      fill=args.fill, repeats=args.repeats, read_budget=args.read_budget)
    server_env = dict(pair.split("=", 1) for pair in args.server_env)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in names:
        try:
            results[name] = run_scenario(name, options, args, server_env)
        except (BenchError, TimeoutError, EOFError, OSError) as error:
            print(f"\n[{name}] FAILED: {error}", file=sys.stderr)
            results[name] = {"failed": str(error)}
            continue
        print_summary(name, results[name])
        write_json(args.out, name, results[name])
    return 0 if all("failed" not in result for result in results.values()) else 1


def run_scenario(name: str, options: Options, args: argparse.Namespace, server_env: dict[str, str]) -> dict[str, Any]:
    """A fresh server per scenario (unless --url): the earlier ones' rows would otherwise weigh on it."""
    print(f"\n[{name}] preparing ...", flush=True)
    server = (attach_server(args.url, args.server_pid) if args.url
              else start_server(args.var_dir, server_env, args.out, args.app_dir.resolve()))
    try:
        server.create_events(options.events)
        if args.rules:
            server.create_rules(args.rules, options.events, firing=args.firing)
        options.token = args.token or server.controller_token(registered=args.registered_controller)
        options.sessions = args.sessions
        started = time.time()
        result = {**SCENARIOS, **LONG_SCENARIOS}[name](server, options)
        result["wall_seconds"] = round(time.time() - started, 1)
        result["setup"] = describe_setup(server, options, args)
        return result
    finally:
        stop_server(server)


def describe_setup(server: Server, options: Options, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "command": "bench/run.py " + " ".join(sys.argv[1:]),
        "server": "started by bench" if server.process else f"attached to pid {server.pid} at {server.url}",
        "server_env_overrides": server.extra_env,
        "code": code_version(server.app_dir),
        "cpus": os.cpu_count(), "cpu_model": platform.processor() or platform.machine(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "note": "server, PostgreSQL and load generators share this machine's cores",
        "events": len(options.events), "rules": args.rules, "firing": args.firing,
        "seconds": options.seconds, "warmup": options.warmup,
        "client_procs": options.client_procs, "subscriber_procs": options.subscriber_procs,
    }


def write_json(out: Path, name: str, result: dict[str, Any]) -> None:
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"  results: {path}")


# --- printing ----------------------------------------------------------------------------------

def print_summary(name: str, result: dict[str, Any]) -> None:
    print(f"\n[{name}] ({result['wall_seconds']} s)")
    if name in ("batch", "single"):
        print_throughput(result)
    elif name.startswith("fanout"):
        print_fanout(result)
    elif name == "laggards":
        print_laggards(result)
    elif name.startswith("relay"):
        print_relay(result)
    elif name == "history":
        print_history(result)
        return  # its table shows the targets
    for item in result["targets"]:
        print(f"  target: {item['target']}: {verdict(item['met'])} (measured {item['measured']})")


def print_throughput(result: dict[str, Any]) -> None:
    print(f"  {result['controllers']} controllers x window {result['window_per_controller']} x "
          f"{result['batch']} readings/message, {result['measured_seconds']} s measured")
    print(f"  persisted: {result['persisted_per_s_from_acks']:,}/s from acks, "
          f"{result['persisted_per_s_from_healthz']:,}/s from /healthz readings_committed")
    print(f"  totals: {result['acked_total']:,} acked, {result['committed_total_healthz']:,} committed, "
          f"{result['not_stored']} not stored, {result['unacked_messages_at_end']} messages unacked, "
          f"errors {result['errors'] or 'none'}")
    print(f"  ack latency: {describe_latency(result['ack_latency'])}")
    print_cpu(result)


def print_fanout(result: dict[str, Any]) -> None:
    baseline = result["baseline_without_subscribers"]
    print(f"  1 controller at {result['readings_per_s_requested']}/s -> {result['subscribers']} subscribers, "
          f"{result['measured_seconds']} s measured")
    print(f"  delivered {result['deliveries_received']:,} of {result['deliveries_expected']:,} "
          f"({100 * (result['fraction_delivered'] or 0):.3f}%), fewest to one subscriber "
          f"{result['fewest_received_by_one_subscriber']} of {result['readings_acked']}, "
          f"twice or out of order {result['received_not_newer']}, closes {result['subscriber_closes'] or 'none'}")
    print(f"  deliveries/s: {result['deliveries_per_s']:,}")
    print(f"  send-to-receive (kernel arrival): {describe_latency(result['latency'])}")
    print(f"  send-to-read (by our busy process): {describe_latency(result['latency_to_read'])}")
    print(f"  ingestion: {result['readings_per_s_acked']}/s acked, ack {describe_latency(result['ack_latency'])}")
    print(f"    without subscribers: {baseline['readings_per_s_acked']}/s, "
          f"ack {describe_latency(baseline['ack_latency'])}")
    print_cpu(result)
    print(f"  server CPU per 10,000 deliveries/s: {result['server_cpu_pct_per_10k_deliveries_per_s']}% of one core "
          f"(controller-only baseline {baseline['server_cpu_pct']}%)")


def print_relay(result: dict[str, Any]) -> None:
    one, relayed = result["one_process"], result["relay"]
    print(f"  1 controller at {result['readings_per_s_requested']}/s -> {result['subscribers']} subscribers, "
          f"{relayed['measured_seconds']} s measured each: first on one process (relay off), then the controller "
          f"on process A and the subscribers on process B, sharing one database ({RELAY_ENV_TEXT})")

    def row(label: str, left: str, right: str) -> None:
        print(f"  {label:<32} {left:<46} {right}".rstrip())

    def delivered(run: dict[str, Any]) -> str:
        return (f"{100 * (run['fraction_delivered'] or 0):.3f}% ({run['deliveries_received']:,} of "
                f"{run['deliveries_expected']:,})")

    def spread(run: dict[str, Any]) -> str:
        return (f"{run['fewest_received_by_one_subscriber']} to {run['most_received_by_one_subscriber']} "
                f"of {run['readings_acked']}")

    def latency(summary: dict[str, Any]) -> str:
        if not summary["count"]:
            return "no samples"
        return f"{summary['p50_ms']:.1f} / {summary['p90_ms']:.1f} / {summary['p99_ms']:.1f} / {summary['max_ms']:.1f}"

    def pct(value: Any) -> str:
        return "n/a" if value is None else f"{value}%"

    row("", "one process", "relay (A -> B)")
    row("delivered", delivered(one), delivered(relayed))
    row("each subscriber got", spread(one), spread(relayed))
    row("twice or out of order", str(one["received_not_newer"]), str(relayed["received_not_newer"]))
    row("frames per read (subscribers)", str(one["frames_per_read"]), str(relayed["frames_per_read"]))
    row("closes", str(one["subscriber_closes"] or "none"), str(relayed["subscriber_closes"] or "none"))
    row("deliveries/s", f"{one['deliveries_per_s']:,}", f"{relayed['deliveries_per_s']:,}")
    row("send-to-receive p50/p90/p99/max", latency(one["latency"]) + " ms", latency(relayed["latency"]) + " ms")
    row("send-to-read p50/p90/p99/max", latency(one["latency_to_read"]) + " ms",
        latency(relayed["latency_to_read"]) + " ms")
    row("acked/s, ack p99", f"{one['readings_per_s_acked']}/s, {one['ack_latency']['p99_ms']} ms",
        f"{relayed['readings_per_s_acked']}/s, {relayed['ack_latency']['p99_ms']} ms")
    row("CPU (% of one core)", "", "")
    row("  server / process A", pct(one["server_cpu_pct"]), pct(relayed["process_a_cpu_pct"]))
    row("  process B", "", pct(relayed["process_b_cpu_pct"]))
    row("  PostgreSQL", pct(one.get("postgres_cpu_pct")), pct(relayed.get("postgres_cpu_pct")))
    row("  load generator", pct(one["load_generator_cpu_pct"]), pct(relayed["load_generator_cpu_pct"]))
    row("  the idle first server", "", pct(relayed["idle_server_cpu_pct"]))
    row("  machine (all cores)", machine(one), machine(relayed))
    row("per 10,000 deliveries/s", "", "")
    row("  server / process A", pct(one["server_cpu_pct_per_10k_deliveries_per_s"]),
        pct(relayed["process_a_cpu_pct_per_10k_deliveries_per_s"]))
    row("  process B", "", pct(relayed["process_b_cpu_pct_per_10k_deliveries_per_s"]))
    row("  PostgreSQL", pct(one["postgres_cpu_pct_per_10k_deliveries_per_s"]),
        pct(relayed["postgres_cpu_pct_per_10k_deliveries_per_s"]))
    row("server RSS", f"{one['server_rss_mb']} MB", f"B {relayed['server_rss_mb']} MB")


def print_history(result: dict[str, Any]) -> None:
    filled, storage, ingest = result["fill"], result["disk"], result["ingest"]
    print(f"  fill: {filled['readings_stored']:,} of {result['readings_requested']:,} readings stored, "
          f"{result['events']} events over {result['span_days']:g} days, in {filled['seconds']:,} s: "
          f"{filled['per_s']:,}/s ({filled['controllers']} controllers x window {filled['window_per_controller']} x "
          f"{filled['batch']}/message); not stored {filled['not_stored']}, errors {filled['errors'] or 'none'}; "
          f"ack {describe_latency(filled['ack_latency'])}")
    print(f"  reads: the first call, then up to {result['repeats']} more (at most {result['read_budget_seconds']:g} s "
          "each read); verdicts on their p50")

    def row(name: str, first: str, p50: str, peak: str, count: str, goal: str, met: bool | None) -> None:
        print(f"  {name:<40} {first:>11} {p50:>11} {peak:>11} {count:>6}  {goal:<10} {verdict(met)}".rstrip())

    def ms(value: float | None) -> str:
        return "" if value is None else f"{value:,.1f} ms"

    print(f"  {'figure':<40} {'first':>11} {'p50':>11} {'max':>11} {'calls':>6}  {'target':<10} verdict")
    for figure in result["reads"]:
        goal = figure["target_ms"]
        met = None if goal is None or figure["p50_ms"] is None else figure["p50_ms"] <= goal
        row(figure["name"], ms(figure["first_ms"]), ms(figure["p50_ms"]), ms(figure["max_ms"]),
            str(figure["repeats"]), "" if goal is None else f"<= {goal:g} ms", met)
    full, empty = ingest["filled"]["persisted_per_s_from_acks"], ingest["empty"]["persisted_per_s_from_acks"]
    ratio = ingest["ratio"]
    print(f"  batch ingest ({ingest['controllers']} controllers x window {ingest['window_per_controller']} x "
          f"{ingest['batch']}): filled {full:,}/s (ack p99 {ingest['filled']['ack_latency']['p99_ms']} ms), "
          f"empty {empty:,}/s (ack p99 {ingest['empty']['ack_latency']['p99_ms']} ms): "
          f"{'n/a' if ratio is None else f'{100 * ratio:.0f}%'} (target >= 90%): "
          f"{verdict(None if ratio is None else ratio >= 0.9)}")
    if "error" in storage:
        print(f"  disk: not measured: {storage['error']}")
    else:
        per_reading = storage["bytes_per_reading"]
        print(f"  disk: {per_reading} bytes per stored reading ({storage['table_bytes_per_reading']} table, "
              f"{storage['indexes_bytes_per_reading']} indexes) over {storage['rows']:,} rows (target <= 128): "
              f"{verdict(None if per_reading is None else per_reading <= 128)}")
        print(f"    indexes, bytes per reading: {storage['index_bytes_per_reading']}")
        if storage["pgdata_bytes"] is not None:
            print(f"    data directory (WAL included) {storage['pgdata_bytes'] / 2**20:,.0f} MB, "
                  f"database {storage['database_bytes'] / 2**20:,.0f} MB")
        rollups = storage.get("rollups")
        if rollups is not None:
            print(f"  rollups (datapoint_rollups, table + indexes, not in the target): {rollups['bytes_per_reading']} "
                  f"bytes per stored reading ({rollups['total_bytes'] / 2**20:,.1f} MB, {rollups['rows']:,} rows); "
                  f"datapoints + rollups: {rollups['datapoints_and_rollups_bytes_per_reading']} bytes per reading")
        largest = ", ".join(f"{name} {size / 2**20:,.1f}" for name, size in storage["largest_relations_bytes"].items())
        print(f"    largest relations (MB, with indexes): {largest}")
    print_purge(result.get("purge"))
    unmet = [item["target"] for item in result["targets"] if item["met"] is False]
    print(f"  targets not met: {len(unmet)} of {len(result['targets'])}" + (f": {'; '.join(unmet)}" if unmet else ""))


def print_purge(purge: dict[str, Any] | None) -> None:
    if purge is None:
        return
    if "skipped" in purge:
        print(f"  ingest during a retention purge: skipped: {purge['skipped']}")
        return
    plain, during, whole = purge["without_purge"], purge["during_purge"], purge["whole_window"]

    def run(part: dict[str, Any]) -> str:
        latency = part["ack_latency"]
        return (f"{part['persisted_per_s_from_acks']:,}/s, ack p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms "
                f"({part['seconds']} s)")

    ratio = purge["ack_p99_ratio"]
    print(f"  ingest during a retention purge (app.py purge, DATAPOINT_RETENTION_DAYS={purge['retention_days']}, "
          f"started {purge['purge_started_after_s']:g} s into the window): the purge took {purge['purge_seconds']} s "
          f"({purge['purge_process_cpu_s']} s CPU of its own) and printed {json.dumps(purge['purge_output'])}")
    if "without_purge_short_window" in purge:
        print(f"    without a purge (short, before):  {run(purge['without_purge_short_window'])}: ratio "
              f"{purge['ack_p99_ratio_short_window']}")
        print(f"    without a purge (as long, after): {run(plain)}")
    else:
        print(f"    without a purge (the run before): {run(plain)}")
    print(f"    during the purge:                 {run(during)}")
    print(f"    whole window with the purge:      {run(whole)}")
    print(f"    oldest reading {purge['oldest_reading_before']} before, {purge['oldest_reading_after']} after")
    print(f"    ack p99 during / without: {'n/a' if ratio is None else f'{ratio:.2f}'} "
          f"(target <= {PURGE_ACK_P99_FACTOR:g}): {verdict(None if ratio is None else ratio <= PURGE_ACK_P99_FACTOR)}")


def machine(run: dict[str, Any]) -> str:
    return (f"{run['machine_busy_pct_of_all_cores']}% busy, steal {run['machine_steal_pct']}%, "
            f"others {run['other_processes_cpu_pct']}%")


def print_laggards(result: dict[str, Any]) -> None:
    without, with_laggards = result["without_laggards"], result["with_laggards"]
    after = with_laggards["after_window"]
    print(f"  {result['subscribers']} readers at {result['readings_per_s']}/s, then + {result['laggards']} that never "
          f"read (SO_RCVBUF {result['laggard_rcvbuf']})")
    print(f"  readers without laggards: {describe_latency(without['latency'])}, "
          f"delivered {100 * (without['fraction_delivered'] or 0):.3f}%")
    print(f"    (to read)               {describe_latency(without['latency_to_read'])}")
    print(f"  readers with laggards:    {describe_latency(with_laggards['latency'])}, "
          f"delivered {100 * (with_laggards['fraction_delivered'] or 0):.3f}%")
    print(f"    (to read)               {describe_latency(with_laggards['latency_to_read'])}")
    print(f"    after the window:       {describe_latency(after['latency'])}")
    print(f"  laggards gone at {after['gone_at_s']} s after the first reading, of which counted as cut off "
          f"(subscribers_cut_off) at {after['counted_as_cut_off_at_s']} s (watched {after['seconds_watched']} s "
          f"after the window; all gone: {after['all_gone']})")
    print(f"  most bytes the server's kernel held for one laggard: {result['laggard_kernel_queued_bytes_max']:,}")
    rss = [sample["server_rss_mb"] for sample in with_laggards["samples"]]
    print(f"  server RSS: {result['server_rss_mb_before_laggards']} MB before, "
          f"max {result['server_rss_mb_max_with_laggards']} MB,"
          f" last {result['server_rss_mb_last']} MB; every {max(1, len(rss) // 12)} s: "
          f"{[round(value) for value in rss[::max(1, len(rss) // 12)]]}")


def print_cpu(result: dict[str, Any]) -> None:
    print(f"  CPU (% of one core): server {result['server_cpu_pct']}, "
          f"PostgreSQL {result.get('postgres_cpu_pct', 'n/a')}, "
          f"load generator {result['load_generator_cpu_pct']}; machine {result['machine_busy_pct_of_all_cores']}% "
          f"of all {os.cpu_count()} cores busy (steal {result['machine_steal_pct']}%, other processes "
          f"{result['other_processes_cpu_pct']}% of one core); server RSS {result['server_rss_mb']} MB")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    p.add_argument("--scenario", default="all", choices=[*SCENARIOS, *LONG_SCENARIOS, "all"],
                   help="one scenario, or `all` (every one but history)")
    p.add_argument("--seconds", type=float, default=15.0, help="measured window per run (default 15)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring (default 2)")
    p.add_argument("--url", help="drive an already running server, e.g. http://127.0.0.1:8000")
    p.add_argument("--server-pid", type=int, help="its process id (for CPU and RSS); required with --url")
    p.add_argument("--token", help="controller token for --url (default: `app.py token` with this environment)")
    p.add_argument("--registered-controller", action="store_true",
                   help="controllers use a registered controller's token (`app.py controller add`, scoped to the "
                        "prefix bench_evt_), so scope checks and provenance are in the path")
    p.add_argument("--sessions", action="store_true",
                   help="each controller connection names a session (?session=), so the server's exactly-once "
                        "check of every message is in the path")
    p.add_argument("--rules", type=int, default=0,
                   help="alarm rules to create over the events before measuring (none of which fires); needs a "
                        "version with rules")
    p.add_argument("--firing", action="store_true",
                   help="with --rules: every reading meets every rule (an alarm storm: all alarms active throughout)")
    p.add_argument("--var-dir", type=Path, help="WEBMACS_VAR_DIR for the started server (default: a fresh temp dir)")
    p.add_argument("--app-dir", type=Path, default=ROOT,
                   help="run app.py from this directory, e.g. an exported older commit (default: this checkout)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the started server, e.g. SUBSCRIBER_BUFFER_LIMIT=65536")
    p.add_argument("--controllers", type=int, help="controllers in batch/single (default 4 / 8)")
    p.add_argument("--window", type=int, help="unacked messages per controller in batch/single (default 4 / 64)")
    p.add_argument("--events", type=int, help="bench events to spread readings over (default 4; history: 50)")
    p.add_argument("--client-procs", type=int, default=2, help="controller processes in batch/single (default 2)")
    p.add_argument("--subscriber-procs", type=int, default=2, help="subscriber processes (default 2)")
    p.add_argument("--baseline-seconds", type=float, default=5.0, help="controller-only run before fan-out (default 5)")
    p.add_argument("--cutoff-timeout", type=float, default=120.0,
                   help="laggards: how long to keep the load on waiting for the cut-off (default 120)")
    p.add_argument("--laggards", type=int, default=5, help="subscribers that never read (default 5)")
    p.add_argument("--laggard-rcvbuf", type=int, default=4096, help="their SO_RCVBUF in bytes (default 4096)")
    p.add_argument("--fill", type=int, default=50_000_000,
                   help="history: readings stored before measuring (default 50,000,000; a quick run: 1000000)")
    p.add_argument("--repeats", type=int, default=20, help="history: calls of each read after the first (default 20)")
    p.add_argument("--read-budget", type=float, default=60.0,
                   help="history: seconds after which a read stops repeating (default 60; at least 1 repeat)")
    p.add_argument("--out", type=Path, default=OUT, help="where JSON results and server logs go (default bench/out)")
    return p


if __name__ == "__main__":
    sys.exit(main())
