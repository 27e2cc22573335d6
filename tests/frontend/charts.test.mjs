// What the charts and cards draw (static/components/chartStyle.js, chartMarks.js, Sparkline.js) and how the datapoints table
// writes times (static/timestamps.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { MINUTE_TICK_SPACE, SECOND_TICK_SPACE, faded, formatTicks, timeTickSpace }
  from "../../static/components/chartStyle.js";
import { cursorStep, describeBucket, describeExperiments, describePoint, experimentSpans }
  from "../../static/components/chartMarks.js";
import { shiftedSpan, zoomedSpan } from "../../static/components/RangePicker.js";
import { SLOTS, sparkPath } from "../../static/components/Sparkline.js";
import { LIVE_WINDOW_MS, LiveSeries } from "../../static/realtime.js";
import { formatTimestamp } from "../../static/timestamps.js";

test("time ticks are labelled as briefly as their step allows, and fit the space between them", () => {
  const noon = Date.UTC(2026, 10, 26, 12, 0, 0) / 1000;
  const minutes = formatTicks([noon, noon + 300, noon + 600], 300);
  assert.equal(new Set(minutes).size, 3);
  assert.ok(minutes.every((label) => !/:\d\d:\d\d/.test(label)), minutes);  // no seconds
  const seconds = formatTicks([noon, noon + 10], 10);
  assert.ok(seconds.every((label) => /\d\d:\d\d:\d\d/.test(label)), seconds);
  const days = formatTicks([noon, noon + 86400], 86400);
  assert.ok(days.every((label) => !/\d\d:\d\d/.test(label)), days);
  // At 12px a character is under 7.5px wide: each label fits the space uPlot keeps between its ticks.
  const widest = (labels) => Math.max(...labels.map((label) => label.length)) * 7.5;
  assert.ok(widest([...minutes, ...days]) < MINUTE_TICK_SPACE, minutes);
  assert.ok(widest(seconds) < SECOND_TICK_SPACE, seconds);
});

test("seconds get the wider spacing only where ticks could fall less than a minute apart", () => {
  assert.equal(timeTickSpace(15 * 60, 260), MINUTE_TICK_SPACE);  // Live on a phone: minutes
  assert.equal(timeTickSpace(15 * 60, 1200), SECOND_TICK_SPACE);  // Live on a wall: could be every 30 s
  assert.equal(timeTickSpace(86400, 1200), MINUTE_TICK_SPACE);
});

test("a band's colour is the line's with transparency", () => {
  assert.equal(faded("#2563eb", 0.15), "rgba(37, 99, 235, 0.15)");
  assert.equal(faded("rgb(1, 2, 3)", 0.5), "rgb(1, 2, 3)");
});

test("a sparkline averages the Live window into slots and scales them into its box", () => {
  const now = Date.UTC(2026, 10, 26, 12, 0, 0);
  const live = new LiveSeries("evt_a", 100, 1500);
  assert.equal(sparkPath(null, now), "");
  live.add({ public_id: "dp_1", value: 1, time: now - 60_000 });
  assert.equal(sparkPath(live, now), "");  // one point is no line
  live.add({ public_id: "dp_2", value: 3, time: now - 1_000 });
  live.add({ public_id: "dp_0", value: 9, time: now - LIVE_WINDOW_MS - 1 });  // before the window: left out
  const path = sparkPath(live, now);
  const points = [...path.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((match) => [Number(match[1]), Number(match[2])]);
  assert.equal(points.length, 2);
  assert.ok(points[0][1] > points[1][1]);  // 1 then 3: the line rises (y grows downwards)
  assert.ok(points[1][0] > 100 * (SLOTS - 1) / SLOTS);  // the newest slot is at the right edge
});

test("datapoint times are written to the millisecond, in the browser's zone or a named one", () => {
  assert.equal(formatTimestamp("2026-11-26T17:25:01.123Z", "UTC"), "2026-11-26 17:25:01.123");
  assert.equal(formatTimestamp("2026-11-26T23:59:59.005Z", "Asia/Tokyo"), "2026-11-27 08:59:59.005");
  assert.equal(formatTimestamp(null), "—");
  assert.equal(formatTimestamp("not a time"), "—");
});

test("a chart shades the part of each experiment it shows, and marks a start only where it is on the chart", () => {
  const at = (hour) => Date.UTC(2026, 0, 1, hour) / 1000;
  const iso = (hour) => new Date(at(hour) * 1000).toISOString();
  const experiments = [
    { name: "Running", started_at: iso(14), stopped_at: null },
    { name: "Inside", started_at: iso(11), stopped_at: iso(12) },
    { name: "Reaches in", started_at: iso(8), stopped_at: iso(10) },
    { name: "Before", started_at: iso(6), stopped_at: iso(7) },
  ];
  const spans = experimentSpans(experiments, at(9), at(15));
  assert.deepEqual(spans, [
    { name: "Running", start: at(14), end: at(15), running: true, begins: true },
    { name: "Inside", start: at(11), end: at(12), running: false, begins: true },
    { name: "Reaches in", start: at(9), end: at(10), running: false, begins: false },
  ]);
  // Just started: no width yet, but still on the chart (its start line shows).
  const now = experimentSpans([{ name: "New", started_at: iso(15), stopped_at: null }], at(14), at(15));
  assert.equal(now.length, 1);
  assert.equal(now[0].start, now[0].end);
  assert.equal(describeExperiments(spans), "experiments Running (running), Inside, Reaches in shaded");
  assert.equal(describeExperiments([]), "");
});

test("the keyboard moves a chart's cursor point by point, a page at a time, or to either end", () => {
  assert.equal(cursorStep("ArrowRight", -1, 50), 0);  // first press: the oldest point
  assert.equal(cursorStep("ArrowLeft", -1, 50), 49);  // or the newest
  assert.equal(cursorStep("ArrowRight", 3, 50), 4);
  assert.equal(cursorStep("ArrowRight", 49, 50), 49);  // stays at the end
  assert.equal(cursorStep("ArrowLeft", 0, 50), 0);
  assert.equal(cursorStep("PageDown", 10, 50), 15);
  assert.equal(cursorStep("PageUp", 2, 50), 0);
  assert.equal(cursorStep("End", 0, 50), 49);
  assert.equal(cursorStep("Home", 30, 50), 0);
  assert.equal(cursorStep("a", 3, 50), null);  // not ours: the key does what it does anyway
  assert.equal(cursorStep("ArrowRight", -1, 0), null);
});

test("a bucket under the cursor is read out with its unit, its range and how many readings it holds", () => {
  assert.equal(describeBucket({ avg: 21.25, min: 20.5, max: 22, count: 60 }, "°C"),
    `${(21.25).toLocaleString()} °C (average, ${(20.5).toLocaleString()} to 22, 60 readings)`);
  assert.equal(describeBucket({ avg: 3, min: 3, max: 3, count: 1 }, ""), "3 (average, 1 reading)");
  assert.equal(describeBucket(undefined, "bar"), "no data");
});

test("zooming keeps the middle (or the cursor) in place; moving shifts by a share of the span", () => {
  const span = { from: 1000, to: 5000 };
  assert.deepEqual(zoomedSpan(span, 0.5), { from: 2000, to: 4000 });
  assert.deepEqual(zoomedSpan(span, 2), { from: -1000, to: 7000 });
  assert.deepEqual(zoomedSpan(span, 0.5, 2000), { from: 1500, to: 3500 });  // the cursor stays where it was
  assert.deepEqual(shiftedSpan(span, -0.5), { from: -1000, to: 3000 });
  assert.deepEqual(shiftedSpan(span, 0.5), { from: 3000, to: 7000 });
});

test("a Live chart's point is read out as the reading, or as a bucket's average and range", () => {
  assert.equal(describePoint(21.5, 21.5, 21.5, "°C"), `${(21.5).toLocaleString()} °C`);  // a reading: no range
  assert.equal(describePoint(3, 2, 4, "bar"), "3 bar (average, 2 to 4)");
  assert.equal(describePoint(3, null, null, ""), "3");  // overlaid: a line of its own
  assert.equal(describePoint(null, null, null, "bar"), "no reading");
});
