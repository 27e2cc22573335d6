// How values and times read on the dashboard.
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
