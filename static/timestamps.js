// Timestamps as the datapoints table shows them: to the millisecond, in the browser's time zone or in UTC.
// Pure, for tests/frontend/timestamps.test.mjs.

const formats = new Map();
function formatIn(timeZone) {
  if (!formats.has(timeZone)) {
    formats.set(timeZone, new Intl.DateTimeFormat("en-CA", {
      timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", fractionalSecondDigits: 3, hourCycle: "h23",
    }));
  }
  return formats.get(timeZone);
}

/** The browser's time zone, as its name ("Europe/Berlin"). */
export function localZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone ?? "local time";
}

/** "2026-11-26 18:25:01.123": an ISO timestamp in `timeZone` (undefined: the browser's); "—" for none. */
export function formatTimestamp(timestamp, timeZone = undefined) {
  const time = timestamp ? Date.parse(timestamp) : NaN;
  if (!Number.isFinite(time)) return "—";
  const parts = Object.fromEntries(formatIn(timeZone).formatToParts(time).map((part) => [part.type, part.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}.${parts.fractionalSecond}`;
}
