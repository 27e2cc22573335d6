// What the Live and history charts draw over their data, and how the keyboard reads them: the alarm rules'
// threshold lines, the experiments that ran (shaded, with a solid line where each began, so one started a
// moment ago shows at once), and a cursor moved by the arrow keys whose values are put into words. The
// pure parts are tested in tests/frontend/charts.test.mjs.
import { ref } from "vue";
import uPlot from "uplot";
import { formatValue } from "../format.js";

const LABEL_ROW = 16;  // px at the top of a plot that an experiment's name takes

/** Draws the rules' lines over the plot (a uPlot draw hook); `lines` as alarms.js's thresholdLines gives them,
 * each with the scale it is on. */
export function drawThresholds(plot, lines, colours) {
  const { ctx, bbox } = plot;
  const ratio = uPlot.pxRatio;
  ctx.save();
  ctx.lineWidth = ratio;
  ctx.setLineDash([6 * ratio, 4 * ratio]);
  ctx.font = `${11 * ratio}px system-ui, sans-serif`;
  ctx.textAlign = "right";
  for (const line of lines) {
    const y = Math.round(plot.valToPos(line.value, line.scale, true));
    if (y < bbox.top || y > bbox.top + bbox.height) continue;
    ctx.strokeStyle = ctx.fillStyle = colours.severity[line.severity] ?? colours.severity.warning;
    ctx.beginPath();
    ctx.moveTo(bbox.left, y);
    ctx.lineTo(bbox.left + bbox.width, y);
    ctx.stroke();
    // Above its line, unless that is the top row, where experiment names are written: then below it.
    const below = y - bbox.top < LABEL_ROW * ratio;
    ctx.textBaseline = below ? "top" : "bottom";
    ctx.fillText(line.label, bbox.left + bbox.width - 4 * ratio, below ? y + 2 * ratio : y - 2 * ratio);
  }
  ctx.restore();
}

/** The part of each experiment within [from, to] (seconds), as {name, start, end, running, begins} where
 * `begins` says its start is on the chart; experiments wholly outside are left out. */
export function experimentSpans(experiments, from, to) {
  const spans = [];
  for (const experiment of experiments) {
    const started = Date.parse(experiment.started_at) / 1000;
    const stopped = experiment.stopped_at ? Date.parse(experiment.stopped_at) / 1000 : Infinity;
    if (!(started <= to && stopped >= from)) continue;
    spans.push({ name: experiment.name, start: Math.max(started, from), end: Math.min(stopped, to),
                 running: !experiment.stopped_at, begins: started >= from });
  }
  return spans;
}

/** Shades each experiment's time on the plot (a uPlot draw hook), its start marked by a solid line and its name. */
export function drawExperiments(plot, experiments, colours) {
  const { min, max } = plot.scales.x;
  if (!experiments.length || min == null || max == null) return;
  const { ctx, bbox } = plot;
  const ratio = uPlot.pxRatio;
  ctx.save();
  ctx.font = `${11 * ratio}px system-ui, sans-serif`;
  ctx.textAlign = "left";
  ctx.textBaseline = "top";
  for (const span of experimentSpans(experiments, min, max)) {
    const left = Math.round(plot.valToPos(span.start, "x", true));
    const right = Math.max(left, Math.round(plot.valToPos(span.end, "x", true)));
    ctx.globalAlpha = 0.12;
    ctx.fillStyle = colours.series[0];
    ctx.fillRect(left, bbox.top, right - left, bbox.height);
    ctx.globalAlpha = 1;
    if (span.begins) {
      ctx.fillStyle = colours.muted;
      ctx.fillRect(left, bbox.top, ratio, bbox.height);
    }
    ctx.fillStyle = colours.muted;
    const room = bbox.left + bbox.width - 60 * ratio;  // a name starting near the right edge is moved in
    ctx.fillText(`▶ ${span.name}`, Math.min(left + 4 * ratio, room), bbox.top + 2 * ratio);
  }
  ctx.restore();
}

/** In words, for the chart's caption: "experiment Run 3 running, marked from its start", or those that ran. */
export function describeExperiments(spans) {
  if (!spans.length) return "";
  const said = spans.map((span) => (span.running ? `${span.name} (running)` : span.name));
  return `${spans.length === 1 ? "experiment" : "experiments"} ${said.join(", ")} shaded`;
}

/** Where the keyboard moves a chart's cursor among `count` points from `index` (-1: none yet): arrows one
 * point, Page Up/Down a tenth of them, Home/End the ends; null for any other key. */
export function cursorStep(key, index, count) {
  if (!count) return null;
  const page = Math.max(1, Math.round(count / 10));
  const from = index < 0 ? (key === "ArrowLeft" || key === "PageUp" ? count : -1) : index;
  const to = { ArrowLeft: from - 1, ArrowRight: from + 1, PageUp: from - page, PageDown: from + page,
               Home: 0, End: count - 1 }[key];
  return to === undefined ? null : Math.min(count - 1, Math.max(0, to));
}

/** Moves the plot's cursor for a key (see cursorStep), its crosshair on `line` (a series index) where that has a
 * value; returns the point's index, or null when the key is not one of ours. */
function moveCursor(plot, key, line) {
  const times = plot.data[0];
  const next = cursorStep(key, plot.cursor.idx ?? -1, times.length);
  if (next === null) return null;
  // Where the line is then, so the crosshair meets it, not a line of its own mid-plot.
  const value = plot.data[line]?.[next];
  const top = value != null ? plot.valToPos(value, plot.series[line].scale) : plot.bbox.height / uPlot.pxRatio / 2;
  plot.setCursor({ left: plot.valToPos(times[next], "x"), top });
  return next;
}

/**
 * A chart's cursor from the keyboard (a Vue composable, for the Live and history charts alike): `onKey` moves it
 * for the arrows, Page Up/Down, Home and End, its crosshair on series `line`, and puts the point into words in
 * `spoken` with `describe(index)`; Escape and `onBlur` take it off. `onKey` says whether the key was its own.
 * `plotOf()`: the chart's uPlot, once made.
 */
export function useKeyboardCursor(plotOf, line, describe) {
  const spoken = ref("");
  function onBlur() {
    plotOf()?.setCursor({ left: -10, top: -10 });
    spoken.value = "";
  }
  function onKey(event) {
    const plot = plotOf();
    if (!plot || event.altKey || event.ctrlKey || event.metaKey) return false;
    if (event.key === "Escape") {
      onBlur();
      return true;
    }
    const next = moveCursor(plot, event.key, line);
    if (next === null) return false;
    event.preventDefault();
    spoken.value = describe(next);
    return true;
  }
  return { spoken, onKey, onBlur };
}

/** A point of a Live chart in words: a reading ("21.5 °C"), or a bucket of them ("21.3 °C (average, 20.1 to
 * 22.4)"); `low` and `high` as the band draws them, null for a line of its own (overlaid). */
export function describePoint(value, low, high, unit) {
  if (value == null) return "no reading";
  const suffix = unit ? ` ${unit}` : "";
  const band = low != null && high != null && low !== high
    ? ` (average, ${formatValue(low)} to ${formatValue(high)})` : "";
  return `${formatValue(value)}${suffix}${band}`;
}

/** A history bucket in words: "10:04:00: 21.3 °C (20.1 to 22.4, 60 readings)", or "no data". */
export function describeBucket(bucket, unit) {
  if (!bucket) return "no data";
  const suffix = unit ? ` ${unit}` : "";
  const range = bucket.min === bucket.max ? "" : `, ${formatValue(bucket.min)} to ${formatValue(bucket.max)}`;
  const readings = `${bucket.count} ${bucket.count === 1 ? "reading" : "readings"}`;
  return `${formatValue(bucket.avg)}${suffix} (average${range}, ${readings})`;
}
