// The management pages' pure part (events, experiments, users): form fields to API bodies, and how counts,
// durations and API refusals read. No Vue here, so tests/frontend/manage.test.mjs runs it under Node.


/** An event's fields as a form edits them: every value a string, "" for none. */
export function eventForm(event = null) {
  const text = (value) => (value === null || value === undefined ? "" : String(value));
  return {
    public_id: text(event?.public_id), name: text(event?.name), type: event?.type ?? "sensor", unit: text(event?.unit),
    min_value: text(event?.min_value), max_value: text(event?.max_value), stale_after: text(event?.stale_after),
    group: text(event?.group),
  };
}

/** The body of POST /events (`creating`) or PUT /events/{id} from a form: empty numbers and group are null. */
export function eventBody(form, creating) {
  const number = (text) => (String(text).trim() === "" ? null : Number(text));
  const body = {
    name: form.name.trim(), type: form.type, unit: form.unit.trim(), min_value: number(form.min_value),
    max_value: number(form.max_value), stale_after: number(form.stale_after), group: form.group.trim() || null,
  };
  if (creating && form.public_id.trim()) body.public_id = form.public_id.trim();
  return body;
}

/** Problems the form can see before asking the server, by field (the server checks again). */
export function eventProblems(body) {
  const problems = {};
  if (!body.name) problems.name = "Enter a name.";
  for (const field of ["min_value", "max_value", "stale_after"]) {
    if (body[field] !== null && !Number.isFinite(body[field])) problems[field] = "Enter a number, or leave it empty.";
  }
  if (body.stale_after !== null && !problems.stale_after && body.stale_after <= 0) {
    problems.stale_after = "More than 0 seconds, or empty for never.";
  }
  if (body.min_value !== null && body.max_value !== null && !problems.min_value && !problems.max_value
      && body.min_value > body.max_value) {
    problems.min_value = "Not more than the maximum.";
  }
  return problems;
}

/** Events in the order the page lists them: by group (those without one last), then by name. */
export function eventsInOrder(events) {
  const key = (event) => [event.group === null || event.group === undefined ? 1 : 0, event.group ?? "", event.name];
  return [...events].sort((a, b) => {
    const [left, right] = [key(a), key(b)];
    return left[0] - right[0] || left[1].localeCompare(right[1]) || left[2].localeCompare(right[2]);
  });
}

/** Whether an event matches what was typed in the search box (name, id, group, unit or type). */
export function eventMatches(event, search) {
  const words = search.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const text = [event.name, event.public_id, event.group, event.unit, event.type].filter(Boolean).join(" ").toLowerCase();
  return words.every((word) => text.includes(word));
}

/** "1,234", or "10,000+" when the server stopped counting there. */
export function readingsText(experiment) {
  const count = (experiment.readings ?? 0).toLocaleString("en-US");
  return experiment.readings_is_lower_bound ? `${count}+` : count;
}

/** How long an experiment ran, or has been running until `now` (ms since the epoch): "1 h 5 min". */
export function experimentDuration(experiment, now) {
  const end = experiment.stopped_at ? Date.parse(experiment.stopped_at) : now;
  return durationText(end - Date.parse(experiment.started_at));
}

/** A duration in its two largest units: "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function durationText(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const parts = [[Math.floor(seconds / 86400), "d"], [Math.floor(seconds / 3600) % 24, "h"],
    [Math.floor(seconds / 60) % 60, "min"], [seconds % 60, "s"]];
  const first = parts.findIndex(([amount]) => amount > 0);
  if (first === -1) return "0 s";
  return parts.slice(first, first + 2).filter(([amount]) => amount > 0)
    .map(([amount, unit]) => `${amount} ${unit}`).join(" ");
}

/** An API refusal in words: its message, then what it said of each field. */
export function failureText(failure) {
  const details = Object.entries(failure.details ?? {}).map(([field, problem]) => `${field}: ${problem}`);
  return details.length ? `${failure.message} (${details.join("; ")})` : failure.message;
}

/** The problems of a new password, or null when it will do (`minimum`: the server's, from the env). */
export function passwordProblem(password, repeated, minimum) {
  if (password.length < minimum) return `The new password needs at least ${minimum} characters.`;
  if (password !== repeated) return "The two new passwords differ.";
  return null;
}
