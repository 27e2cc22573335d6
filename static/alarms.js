// Alarms as the dashboard shows them: which need attention, how many of each severity, how stream frames
// change the list, what a rule draws on a chart and what a rule form holds and sends. No Vue and no fetch here, so
// Node's test runner can run it.
import { formatValue } from "./format.js";

export const SEVERITIES = ["critical", "warning", "info"];  // the most urgent first, as the banner lists them
export const CONDITIONS = ["above", "below", "outside", "inside", "no_data"];
const KEPT_CLOSED = 1000;  // ids of alarms seen closed, remembered so a late answer does not bring one back

/** Whether an alarm still wants someone's attention: active, or not yet acknowledged (the API's state=open). */
export function isOpen(alarm) {
  return alarm.state === "active" || !alarm.acknowledged;
}

/** How many open alarms of each severity: {critical, warning, info}. */
export function countBySeverity(alarms) {
  const counts = Object.fromEntries(SEVERITIES.map((severity) => [severity, 0]));
  for (const alarm of alarms) {
    if (isOpen(alarm) && alarm.severity in counts) counts[alarm.severity] += 1;
  }
  return counts;
}

/** The banner's words, e.g. "3 open alarms: 2 critical, 1 warning"; "" when there are none. */
export function bannerText(counts) {
  const parts = SEVERITIES.filter((severity) => counts[severity] > 0)
    .map((severity) => `${counts[severity]} ${severity}`);
  const total = SEVERITIES.reduce((sum, severity) => sum + (counts[severity] ?? 0), 0);
  return total ? `${total} open alarm${total === 1 ? "" : "s"}: ${parts.join(", ")}` : "";
}

/** The most urgent severity among these counts, or null: the banner's colour (its words say it too). */
export function worstSeverity(counts) {
  return SEVERITIES.find((severity) => counts[severity] > 0) ?? null;
}

// An alarm only moves on: active to cleared, unacknowledged to acknowledged. Of two copies, the one further on
// is the newer, whichever way it came (stream frame, list answer, acknowledgement answer).
function progress(alarm) {
  return (alarm.state === "cleared" ? 1 : 0) + (alarm.acknowledged ? 1 : 0);
}

function newestFirst(a, b) {
  return Date.parse(b.raised_at) - Date.parse(a.raised_at) || (a.alarm_id < b.alarm_id ? 1 : -1);
}

/**
 * The open list with one alarm's news taken in: added or replaced while open, dropped once closed (and
 * remembered in `closed`, a Set of ids, so no older copy brings it back). An older copy of one already
 * listed changes nothing. Returns a new list, newest first; `list` is left as it was.
 */
export function applyAlarm(list, alarm, closed) {
  if (closed.has(alarm.alarm_id)) return list;
  const known = list.find((listed) => listed.alarm_id === alarm.alarm_id);
  if (!isOpen(alarm)) {
    closed.add(alarm.alarm_id);
    if (closed.size > KEPT_CLOSED) closed.delete(closed.values().next().value);
    return known ? list.filter((listed) => listed !== known) : list;
  }
  if (known && progress(known) > progress(alarm)) return list;
  return [...list.filter((listed) => listed !== known), alarm].sort(newestFirst);
}

/**
 * The open list from a GET /alarms?state=open answer, with the frames that came while it was asked for
 * taken in again: the answer may have been read before them. Alarms known to be closed stay out.
 */
export function fromAnswer(answer, framesMeanwhile, closed) {
  const start = answer.filter((alarm) => !closed.has(alarm.alarm_id)).sort(newestFirst);
  return framesMeanwhile.reduce((list, alarm) => applyAlarm(list, alarm, closed), start);
}

/** A stream frame's alarm, or null when the frame is not an alarm frame one can use. */
export function alarmOfFrame(frame) {
  const alarm = frame?.type === "alarm" ? frame.alarm : null;
  return alarm && typeof alarm.alarm_id === "string" && typeof alarm.event_public_id === "string" ? alarm : null;
}

/** Active alarms by event public id: what cards and charts mark. */
export function activeByEvent(alarms) {
  const byEvent = new Map();
  for (const alarm of alarms) {
    if (alarm.state !== "active") continue;
    if (!byEvent.has(alarm.event_public_id)) byEvent.set(alarm.event_public_id, []);
    byEvent.get(alarm.event_public_id).push(alarm);
  }
  return byEvent;
}

/** Rules by event public id, each event's in the order given. */
export function rulesByEvent(rules) {
  const byEvent = new Map();
  for (const rule of rules) {
    if (!byEvent.has(rule.event_public_id)) byEvent.set(rule.event_public_id, []);
    byEvent.get(rule.event_public_id).push(rule);
  }
  return byEvent;
}

/** A card's and a chart's mark of an event's active alarms, in words: "critical alarm: above 80". */
export function alarmMark(alarms) {
  return alarms.map((alarm) => `${alarm.severity} alarm: ${alarm.condition}`).join("; ");
}

/** What a screen reader hears once of alarms just raised, e.g. "Critical alarm: Boiler hot, above 80." */
export function raisedAnnouncement(alarms) {
  return alarms.map((alarm) => `${capitalized(alarm.severity)} alarm: ${alarm.rule_name}, ${alarm.condition}.`)
    .join(" ");
}

function capitalized(word) {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/**
 * The horizontal lines a chart draws for an event's rules: where each alarm zone begins, with a short
 * label, e.g. {value: 80, label: "above 80", severity: "warning", ruleId}. no_data rules draw none.
 */
export function thresholdLines(rules) {
  const lines = [];
  const line = (rule, value, label) => {
    if (typeof value === "number" && Number.isFinite(value)) {
      lines.push({ value, label, severity: rule.severity, ruleId: rule.rule_id });
    }
  };
  for (const rule of rules) {
    const [low, high, threshold] = [rule.low, rule.high, rule.threshold].map(formatValue);
    if (rule.condition === "above") line(rule, rule.threshold, `above ${threshold}`);
    else if (rule.condition === "below") line(rule, rule.threshold, `below ${threshold}`);
    else if (rule.condition === "outside") {
      line(rule, rule.low, `below ${low}`);
      line(rule, rule.high, `above ${high}`);
    } else if (rule.condition === "inside") {
      line(rule, rule.low, `inside from ${low}`);
      line(rule, rule.high, `inside up to ${high}`);
    }
  }
  return lines;
}

/** A y range that holds both the data's and every line's values, so a line far from the data still shows. */
export function rangeWithLines(dataMin, dataMax, lines) {
  const values = [dataMin, dataMax, ...lines.map((line) => line.value)].filter(Number.isFinite);
  return values.length ? [Math.min(...values), Math.max(...values)] : [null, null];
}

/**
 * A rule form's fields, as text the way inputs hold it: blank for a new rule, or those of a rule as GET /rules
 * lists it, for editing it (ruleBody's inverse: what ruleBody makes of them is the rule again).
 */
export function ruleForm(rule = null) {
  const text = (value) => (typeof value === "number" ? String(value) : "");
  return { name: rule?.name ?? "", condition: rule?.condition ?? "above", threshold: text(rule?.threshold),
           low: text(rule?.low), high: text(rule?.high), seconds: text(rule?.seconds), for: text(rule?.for),
           hysteresis: text(rule?.hysteresis), severity: rule?.severity ?? "warning" };
}

/**
 * A rule form's fields as POST /rules and PUT /rules/{rule_id} take them, or {problem} saying what to fix first.
 * The form holds text (as inputs give it); only the fields of the chosen condition are sent.
 */
export function ruleBody(eventPublicId, form) {
  const name = form.name.trim();
  if (!name) return { problem: "Enter a name." };
  if (!CONDITIONS.includes(form.condition)) return { problem: "Choose a condition." };
  const body = { name, event_public_id: eventPublicId, condition: form.condition, severity: form.severity };
  const number = (text) => (String(text).trim() === "" ? NaN : Number(text));
  if (form.condition === "above" || form.condition === "below") {
    body.threshold = number(form.threshold);
    if (!Number.isFinite(body.threshold)) return { problem: "Enter a threshold." };
  } else if (form.condition === "no_data") {
    body.seconds = number(form.seconds);
    if (!(body.seconds > 0)) return { problem: "Enter how many seconds without data raise the alarm." };
  } else {
    [body.low, body.high] = [number(form.low), number(form.high)];
    if (!Number.isFinite(body.low) || !Number.isFinite(body.high)) return { problem: "Enter both bounds." };
    if (body.low > body.high) return { problem: "The low bound must not be above the high one." };
  }
  for (const field of ["for", "hysteresis"]) {
    const text = String(form[field] ?? "").trim();
    if (text === "") continue;
    body[field] = Number(text);
    if (!(body[field] >= 0)) return { problem: `Enter a ${field === "for" ? "duration" : "hysteresis"} of 0 or more.` };
  }
  return { body };
}

/** What an API refusal says, with its details (field: reason) when it gives some. */
export function failureText(failure) {
  const details = Object.entries(failure.details ?? {}).filter(([, reason]) => typeof reason === "string")
    .map(([field, reason]) => `${field}: ${reason}`);
  return details.length ? `${failure.message} (${details.join("; ")})` : failure.message;
}
