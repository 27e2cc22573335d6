// What the Live and history charts share: colours from dashboard.css (read when a chart is made: a canvas
// cannot follow CSS, so a change of theme makes the charts again), the axes, and time labels that never
// run into each other ("9:49am9:50am"): ticks far enough apart for the widest label their step needs,
// labelled as briefly as the step allows. Pure parts tested in tests/frontend/charts.test.mjs.

// px between time ticks, wider than the widest label at 12px: "12:59 PM" (about 55) and "12:59:59 PM" (about 75).
export const MINUTE_TICK_SPACE = 70;
export const SECOND_TICK_SPACE = 100;

/** The space uPlot keeps between time ticks on a `width` px axis over `span` seconds: ticks less than a minute
 * apart (labelled with seconds) only where there is room for the longer labels. */
export function timeTickSpace(span, width) {
  return span < (60 * width) / MINUTE_TICK_SPACE ? SECOND_TICK_SPACE : MINUTE_TICK_SPACE;
}
const SERIES_VARIABLES = ["--series-1", "--series-2", "--series-3", "--series-4", "--series-5", "--series-6"];
const FALLBACK = { ink: "#111827", muted: "#4b5563", grid: "#e5e7eb",
                   series: ["#2563eb", "#c2410c", "#15803d", "#7c3aed", "#be185d", "#0f766e"],
                   severity: { critical: "#b91c1c", warning: "#92400e", info: "#1d4ed8" } };

const formats = new Map();
function format(options) {
  const key = JSON.stringify(options);
  if (!formats.has(key)) formats.set(key, new Intl.DateTimeFormat(undefined, options));
  return formats.get(key);
}
const DAY = { month: "short", day: "numeric" };
const MINUTE = { hour: "2-digit", minute: "2-digit" };
const SECOND = { hour: "2-digit", minute: "2-digit", second: "2-digit" };

/** Labels for time ticks (seconds) `step` seconds apart: dates for a day or more, else times to the minute
 * or second; a tick at local midnight shows its date instead, so a span across days says where one begins. */
export function formatTicks(ticks, step) {
  const unit = step >= 86400 ? DAY : step >= 60 ? MINUTE : SECOND;
  return ticks.map((tick) => {
    const date = new Date(tick * 1000);
    const midnight = date.getHours() === 0 && date.getMinutes() === 0 && date.getSeconds() === 0;
    return format(midnight && unit !== DAY ? DAY : unit).format(date);
  });
}

/** The theme's colours for canvas drawing, as dashboard.css defines them. */
export function chartColours() {
  if (typeof getComputedStyle !== "function") return FALLBACK;
  const style = getComputedStyle(document.documentElement);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return {
    ink: read("--ink", FALLBACK.ink),
    muted: read("--muted", FALLBACK.muted),
    grid: read("--grid", FALLBACK.grid),
    series: SERIES_VARIABLES.map((name, at) => read(name, FALLBACK.series[at])),
    // Threshold lines and their labels: text on the chart, so as the theme's severity text colours.
    severity: Object.fromEntries(Object.entries(FALLBACK.severity)
      .map(([severity, fallback]) => [severity, read(`--${severity}`, fallback)])),
  };
}

export function timeAxis(colours) {
  return {
    stroke: colours.ink,
    grid: { stroke: colours.grid, width: 1 },
    ticks: { stroke: colours.grid, width: 1 },
    space: (self, axis, min, max, width) => timeTickSpace(max - min, width),
    values: (self, ticks, axis, space, step) => formatTicks(ticks, step),
  };
}

export function valueAxis(colours, scale = "y", { side = 3, label = undefined, grid = true } = {}) {
  return {
    scale, side, size: 60, stroke: colours.ink, label, labelSize: label ? 18 : 0,
    grid: { show: grid, stroke: colours.grid, width: 1 },
    ticks: { stroke: colours.grid, width: 1 },
  };
}

/** The colour with some transparency (a band's fill, its faint edges); `#rrggbb` in. */
export function faded(colour, alpha) {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour);
  if (!match) return colour;
  const [red, green, blue] = match.slice(1).map((hex) => parseInt(hex, 16));
  return `rgba(${red}, ${green}, ${blue}, ${alpha})`;
}
