"""The `dashboard` scenario (issues 11 and 14): the dashboard in headless Chromium, signed in, in Live mode while
100 events in 5 groups get 5 readings/s each through the controller WebSocket; the page's main-thread busy time
per second (Chrome DevTools Protocol's Performance metrics) and its frame rate (a requestAnimationFrame counter).
Measured with the layout a user starts with (every card, the first 12 events charted) in a laptop's viewport,
and with all 100 events charted and every card and chart on screen at once."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from array import array
from dataclasses import replace
from typing import Any

import psutil
from harness import PYTHON, ROOT, BenchError, CpuMeter, Server
from scenarios import Meters, Options, require_connected, target, target_of
from stats import latency_summary, rate
from workers import WorkerGroup, start_controllers, start_fill

sys.path.append(str(ROOT))  # the browser tests' helpers: Chromium is driven here the way they drive it

EVENTS = 100  # bench_evt_0..99, whatever --events says: issue 14's load
READINGS_PER_EVENT_PER_S = 5
GROUPS = ["Reactor", "Utilities", "Cooling", "Power", "Vacuum"]  # 20 events each, as a plant's dashboard has them
HISTORY_SECONDS = 900  # Live's 15 minutes, stored before the page opens so that every chart starts full
FILL_BATCH, FILL_WINDOW = 500, 4
VIEWER = "viewer@bench.example"
TALL_VIEWPORT = (1280, 16000)  # width, height: every card and all 100 charts on screen at once
PAGE_TIMEOUT_MS = 120_000  # to sign in and load the 15 minutes of 100 events
SMOOTH_FPS, SMOOTH_BUSY_PCT = 50.0, 50.0  # our reading of "smooth"; the issue gives no figure

# Every animation frame's time, and long tasks (> 50 ms), collected in the page; taken out once a second.
PROBE = """() => {
  const probe = window.benchProbe = { frames: [], longTasks: [] };
  const tick = (time) => { probe.frames.push(time); requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) probe.longTasks.push(entry.duration);
  }).observe({ type: "longtask" });
}"""
TAKE = """() => {
  const probe = window.benchProbe;
  return { frames: probe.frames.splice(0), longTasks: probe.longTasks.splice(0) };
}"""
# How current the cards are (their age reads "0 s ago" or "1 s ago"), and the readings the charts hold.
PAGE_STATE = """() => ({
  cards: document.querySelectorAll('.card').length,
  cardsCurrent: [...document.querySelectorAll('.card .age')]
    .filter((age) => /^[01] s ago$/.test(age.textContent)).length,
  charts: document.querySelectorAll('[data-chart]').length,
  chartReadings: [...document.querySelectorAll('[data-chart]')]
    .reduce((sum, chart) => sum + Number(chart.dataset.points), 0),
  mode: document.querySelector('[data-testid="connection-mode"]')?.textContent,
})"""
# Every chart has its history (data-buckets; a dashboard from before it had buckets: some readings), and every
# card its sparkline.
CHARTS_LOADED = """(expected) => {
  const charts = [...document.querySelectorAll('[data-chart]')];
  return charts.length >= expected
    && charts.every((chart) => Number(chart.dataset.buckets ?? chart.dataset.points) > 0)
    && document.querySelectorAll('.sparkline path').length >= document.querySelectorAll('.card').length;
}"""
# Every event charted, each alone: the user's preferences on the server, as the page itself saves them.
CHART_ALL = """async (ids) => {
  const { token } = JSON.parse(sessionStorage.getItem('webmacs.session'));
  const response = await fetch('/api/v1/auth/preferences', { method: 'PUT', body: JSON.stringify(
    { dashboard: { charts: ids.map((id) => [id]), collapsed: [] } }),
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` } });
  return response.status;
}"""
DEFAULT_CHARTS = 12  # static/dashboardLayout.js: charted until the user chooses


def dashboard(server: Server, options: Options) -> dict[str, Any]:
    """Fill the 15 minutes Live shows, then keep 100 events at 5 readings/s while the dashboard runs in
    Chromium: measured once as a user first sees it in a laptop's viewport (1280 x 900) and once with every
    event charted and every card and chart on screen."""
    events = [f"bench_evt_{n}" for n in range(EVENTS)]
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise BenchError("the dashboard scenario needs Chromium: on Debian or Ubuntu, apt-get install chromium")
    if importlib.util.find_spec("playwright") is None:
        raise BenchError("the dashboard scenario needs Playwright, of the development requirements: make .venv/.dev")
    server.create_events([event for event in events if event not in options.events])
    group_events(server, events)
    add_viewer(server)
    run = replace(options, events=events)
    filled = fill(server, run)
    per_s = EVENTS * READINGS_PER_EVENT_PER_S
    controller = start_controllers(target_of(server, run), 1, 1, events, 1, 1, rate=per_s)
    try:
        require_connected(controller, 1, "controllers")
        controller.ask("go")
        windows = asyncio.run(watch(server, run, controller, chromium))
        report = controller.ask("stop")[0]
    finally:
        controller.close()
    result = {"events": EVENTS, "readings_per_s_requested": per_s, "history": filled, "windows": windows,
              "readings_acked": sum(report["counts"]), "controller_errors": report["errors"]}
    result["targets"] = [
        target(f"{name}: >= {SMOOTH_FPS:g} frames/s and the main thread busy <= {SMOOTH_BUSY_PCT:g}% (our reading of "
               "'smooth')", {"fps": window["fps"], "busy_pct": window["main_thread_busy_pct"]},
               window["fps"] >= SMOOTH_FPS and window["main_thread_busy_pct"] <= SMOOTH_BUSY_PCT)
        for name, window in windows.items()]
    print_dashboard(result)
    return result


def group_events(server: Server, events: list[str]) -> None:
    """Each event into one of the five groups (20 each), through the API as an admin would."""
    token = server.app_command("token", "--role", "admin", "--subject", "bench")
    for at, event in enumerate(events):
        request = urllib.request.Request(f"{server.url}/api/v1/events/{event}", method="PUT",
                                         data=json.dumps({"group": GROUPS[at * len(GROUPS) // len(events)]}).encode(),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise BenchError(f"could not group {event}: HTTP {response.status}")


def add_viewer(server: Server) -> None:
    """The user the page signs in as, with the browser tests' password (see tests/browser/helpers.py)."""
    from tests.helpers import USER_PASSWORD

    done = subprocess.run([PYTHON, "app.py", "user", "add", VIEWER, "--role", "viewer"], cwd=server.app_dir,
                          env={**server.env, "WEBMACS_PASSWORD": USER_PASSWORD}, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0 and "exists" not in done.stderr:
        raise BenchError(f"app.py user add failed: {done.stderr.strip()[-500:]}")


def fill(server: Server, options: Options) -> dict[str, Any]:
    """The 15 minutes before now at the same rate: every event's chart opens full, as on a running rig."""
    total = EVENTS * READINGS_PER_EVENT_PER_S * HISTORY_SECONDS
    print(f"  history: {total:,} readings of {EVENTS} events over the {HISTORY_SECONDS // 60} minutes before now",
          flush=True)
    group = start_fill(target_of(server, options), 4, options.client_procs, options.events, FILL_BATCH, FILL_WINDOW,
                       total, HISTORY_SECONDS)
    try:
        require_connected(group, 4, "controllers")
        started = time.monotonic()
        group.ask("go")
        while not all(reply["finished"] for reply in group.ask("progress")):
            if time.monotonic() - started > 600:
                raise BenchError("the history fill did not finish within 10 minutes")
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        stored = sum(sum(report["counts"]) for report in group.ask("stop"))
    finally:
        group.close()
    print(f"  history: {stored:,} stored in {elapsed:.0f} s", flush=True)
    return {"readings_stored": stored, "seconds": round(elapsed, 1)}


async def watch(server: Server, options: Options, controller: WorkerGroup, chromium: str) -> dict[str, Any]:
    """Sign in while the readings flow, wait for every chart's history, then measure two windows."""
    from playwright.async_api import expect

    from tests.browser.helpers import browser_page, sign_in

    async with browser_page(chromium) as page:
        loading = time.monotonic()
        await sign_in(page, server.url, email=VIEWER)
        # "live" since issue 14 ("websocket" before): either way, the stream is open.
        await expect(page.get_by_test_id("connection-mode")).to_have_text(re.compile(r"^(live|websocket)$"),
                                                                          timeout=PAGE_TIMEOUT_MS)
        await page.wait_for_function(CHARTS_LOADED, arg=DEFAULT_CHARTS, timeout=PAGE_TIMEOUT_MS, polling=500)
        loaded = time.monotonic() - loading
        print(f"  page: signed in and every chart's 15 minutes loaded in {loaded:.1f} s", flush=True)
        windows = {f"as first seen, {DEFAULT_CHARTS} charts, viewport 1280x900":
                   await probed(page, server, controller, options, loaded)}

        status = await page.evaluate(CHART_ALL, options.events[:EVENTS])
        if status != 200:
            raise BenchError(f"could not chart every event: PUT /auth/preferences answered {status}")
        await page.set_viewport_size({"width": TALL_VIEWPORT[0], "height": TALL_VIEWPORT[1]})
        loading = time.monotonic()
        await page.reload()
        await page.wait_for_function(CHARTS_LOADED, arg=EVENTS, timeout=PAGE_TIMEOUT_MS, polling=500)
        loaded = time.monotonic() - loading
        print(f"  page: all {EVENTS} charted, reloaded and loaded in {loaded:.1f} s", flush=True)
        tall = f"all {EVENTS} charted, every card and chart on screen ({TALL_VIEWPORT[0]}x{TALL_VIEWPORT[1]})"
        windows[tall] = await probed(page, server, controller, options, loaded)
        return windows


async def probed(page: Any, server: Server, controller: WorkerGroup, options: Options, loaded: float) -> dict[str, Any]:
    """The probe into the page (again after a reload), a warm-up, then one measured window."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    await page.evaluate(PROBE)
    await asyncio.sleep(options.warmup)
    window = await measure(page, cdp, server, controller, options.seconds)
    window["page_load_seconds"] = round(loaded, 1)
    await cdp.detach()
    return window


async def measure(page: Any, cdp: Any, server: Server, controller: WorkerGroup, seconds: float) -> dict[str, Any]:
    """Once a second: the renderer main thread's busy time (TaskDuration, split into script, layout and style)
    and the animation frames; CPU of the server, PostgreSQL, the load generator and Chromium over the window."""
    meters = Meters(server, [controller])
    browser = CpuMeter(chromium_processes)
    await page.evaluate(TAKE)  # what came before the window
    started = time.monotonic()
    acked_before = sum(reply["acked"] for reply in controller.ask("progress"))
    before = previous = await performance(cdp)
    samples: list[dict[str, Any]] = []
    intervals, last_frame = array("d"), None
    long_tasks: list[float] = []
    while time.monotonic() - started < seconds:
        await asyncio.sleep(1.0)
        now, taken = await performance(cdp), await page.evaluate(TAKE)
        elapsed = now["Timestamp"] - previous["Timestamp"]
        for frame in taken["frames"]:
            if last_frame is not None:
                intervals.append((frame - last_frame) / 1000)
            last_frame = frame
        long_tasks += taken["longTasks"]
        samples.append({"t": round(time.monotonic() - started, 2),
                        **{f"{name}_ms_per_s": round(1000 * rate(now[key] - previous[key], elapsed), 1)
                           for name, key in METRICS.items()},
                        "frames_per_s": round(rate(len(taken["frames"]), elapsed), 1)})
        previous = now
    elapsed = previous["Timestamp"] - before["Timestamp"]
    acked = sum(reply["acked"] for reply in controller.ask("progress")) - acked_before
    cpu, chromium = meters.read(), round(browser.read()[0], 1)
    cpu["other_processes_cpu_pct"] = round(max(0.0, cpu["other_processes_cpu_pct"] - chromium), 1)  # not Chromium's
    shown = await page.evaluate(PAGE_STATE)
    busy = [sample["busy_ms_per_s"] for sample in samples]
    return {
        "measured_seconds": round(elapsed, 2),
        "readings_per_s_acked": round(rate(acked, time.monotonic() - started)),
        "main_thread_busy_pct": round(100 * rate(previous["TaskDuration"] - before["TaskDuration"], elapsed), 1),
        **{f"{name}_ms_per_s": round(1000 * rate(previous[key] - before[key], elapsed), 1)
           for name, key in METRICS.items() if name != "busy"},
        "busy_ms_per_s_worst_second": max(busy, default=None),
        "fps": round(rate(len(intervals), sum(intervals)), 1),
        "fps_worst_second": min((sample["frames_per_s"] for sample in samples), default=None),
        "frame_interval": latency_summary(intervals),
        "frames_over_50_ms": sum(1 for interval in intervals if interval > 0.05),
        "long_tasks": len(long_tasks), "long_tasks_ms": round(sum(long_tasks), 1),
        "js_heap_mb": round(previous["JSHeapUsedSize"] / 2**20, 1), "dom_nodes": int(previous["Nodes"]),
        "page": shown,
        "chromium_cpu_pct": chromium, **cpu,
        "samples": samples,
    }


# Cumulative seconds of the renderer's main thread, from the DevTools Protocol ("other": painting,
# compositing, the network's tasks, ...).
METRICS = {"busy": "TaskDuration", "script": "ScriptDuration", "layout": "LayoutDuration",
           "style": "RecalcStyleDuration", "other": "TaskOtherDuration"}


async def performance(cdp: Any) -> dict[str, float]:
    answer = await cdp.send("Performance.getMetrics")
    return {metric["name"]: metric["value"] for metric in answer["metrics"]}


def chromium_processes() -> list[psutil.Process]:
    """Chromium's processes (browser, renderer, GPU, ...): Playwright's driver started them under us."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "chrom" in process.name().lower():
                found.append(process)
        except psutil.Error:
            pass
    return found


def print_dashboard(result: dict[str, Any]) -> None:
    print(f"  {result['events']} events at {READINGS_PER_EVENT_PER_S}/s each ({result['readings_per_s_requested']}/s "
          f"through one controller), after {result['history']['readings_stored']:,} readings of history; "
          f"controller errors {result['controller_errors'] or 'none'}")
    for name, window in result["windows"].items():
        frames = window["frame_interval"]
        page = window["page"]
        print(f"  {name}, {window['measured_seconds']} s, {window['readings_per_s_acked']} readings/s acked:")
        print(f"    main thread busy {window['main_thread_busy_pct']}% (worst second "
              f"{window['busy_ms_per_s_worst_second']} ms): script {window['script_ms_per_s']}, "
              f"layout {window['layout_ms_per_s']}, style {window['style_ms_per_s']}, other {window['other_ms_per_s']}"
              " ms per second")
        print(f"    {window['fps']} frames/s (worst second {window['fps_worst_second']}), frame interval p50 "
              f"{frames['p50_ms']} ms, p99 {frames['p99_ms']} ms, max {frames['max_ms']} ms; "
              f"{window['frames_over_50_ms']} frames over 50 ms; {window['long_tasks']} long tasks "
              f"({window['long_tasks_ms']} ms)")
        print(f"    page: {page['cardsCurrent']} of {page['cards']} cards current (age <= 1 s), "
              f"{page['charts']} charts holding {page['chartReadings']:,} readings, mode {page['mode']}; "
              f"JS heap {window['js_heap_mb']} MB")
        print(f"    CPU (% of one core): Chromium {window['chromium_cpu_pct']}, server {window['server_cpu_pct']}, "
              f"PostgreSQL {window.get('postgres_cpu_pct', 'n/a')}, load generator {window['load_generator_cpu_pct']};"
              f" machine {window['machine_busy_pct_of_all_cores']}% of all {os.cpu_count()} cores busy "
              f"(other processes {window['other_processes_cpu_pct']}%)")
