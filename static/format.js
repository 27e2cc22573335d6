// How values, times and durations read on the dashboard.
export function formatValue(value) {
  if (typeof value !== "number") return "—";
  return Math.abs(value) >= 1e5 || (value !== 0 && Math.abs(value) < 1e-3)
    ? value.toExponential(3)
    : value.toLocaleString(undefined, { maximumFractionDigits: 3 });
}

export function formatAge(time, now) {
  if (time === null || time === undefined) return "never";
  const seconds = Math.max(0, Math.round((now - time) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(time).toLocaleString();
}

export function formatTime(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : "—";
}

export function formatDuration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}

/** What a stale event's card and chart say: how long since its newest reading (ms, or null for none). */
export function formatSilence(lastReadingAt, now) {
  return lastReadingAt === null ? "no data yet" : `no data for ${formatDuration(now - lastReadingAt)}`;
}
