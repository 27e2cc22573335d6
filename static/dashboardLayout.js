// The dashboard's layout, as pure functions (Node runs them in tests/frontend/dashboardLayout.test.mjs):
// which cards a search keeps, how they group, and the charts a user keeps, each a list of the events it
// overlays. The charts are kept in the user's preferences on the server (preferences.js), as
// `{dashboard: {charts: [["evt_a", "evt_b"], ["evt_c"]], collapsed: ["Reactor"]}}`.

export const OTHER = "Other";  // the group of events without one
export const DEFAULT_CHARTS = 12;  // charted until the user chooses: enough to see, few enough to stay clear
export const MAX_UNITS = 2;  // one y axis on each side of a chart

/** Whether a search (words, any order, any case) finds an event by its name, id, unit or group. */
export function matches(event, search) {
  const words = search.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const text = [event.name, event.public_id, event.unit, event.group ?? OTHER].join(" ").toLowerCase();
  return words.every((word) => text.includes(word));
}

/** Items ({event}) by the event's group, groups by name with "Other" last, items by name in each. */
export function groupsOf(items) {
  const byName = new Map();
  for (const item of items) {
    const name = item.event.group || OTHER;
    if (!byName.has(name)) byName.set(name, []);
    byName.get(name).push(item);
  }
  const byLabel = (a, b) => a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  return [...byName.entries()]
    .sort(([a], [b]) => (a === OTHER) - (b === OTHER) || byLabel(a, b))
    .map(([name, members]) => ({ name, items: members.sort((a, b) => byLabel(a.event.name, b.event.name)) }));
}

/** The charts to draw: the saved ones (events that no longer exist left out, each event once), or, with
 * nothing saved, the first DEFAULT_CHARTS events each on its own. */
export function chartsOf(saved, eventIds) {
  if (!Array.isArray(saved)) return eventIds.slice(0, DEFAULT_CHARTS).map((id) => [id]);
  const known = new Set(eventIds);
  const seen = new Set();
  const charts = [];
  for (const chart of saved) {
    if (!Array.isArray(chart)) continue;
    const ids = chart.filter((id) => typeof id === "string" && known.has(id) && !seen.has(id));
    for (const id of ids) seen.add(id);
    if (ids.length) charts.push(ids);
  }
  return charts;
}

export function isCharted(charts, id) {
  return charts.some((chart) => chart.includes(id));
}

/** Charted on its own chart at the end, or taken off whichever chart holds it. */
export function toggleCharted(charts, id) {
  return isCharted(charts, id) ? removeFromCharts(charts, id) : [...charts.map((chart) => [...chart]), [id]];
}

export function removeFromCharts(charts, id) {
  return charts.map((chart) => chart.filter((member) => member !== id)).filter((chart) => chart.length);
}

/** The units a chart's events are in, in order of first appearance. */
export function unitsOf(chart, unitOf) {
  return [...new Set(chart.map((id) => unitOf(id) ?? ""))];
}

/** Whether an event may join a chart: not there already, and no third unit. */
export function mayOverlay(chart, id, unitOf) {
  return !chart.includes(id) && unitsOf([...chart, id], unitOf).length <= MAX_UNITS;
}

/** The event moved onto the chart at `index` (taken off any other chart). */
export function overlay(charts, index, id) {
  const target = charts[index];
  const moved = charts.map((chart, at) => (at === index ? [...chart, id] : chart.filter((member) => member !== id)));
  return target ? moved.filter((chart) => chart.length) : charts;
}
