// The REST API as the views use it: JSON in and out, the session's bearer token, errors as ApiError.
import env from "./env.js";
import { session, signOut } from "./session.js";

export class ApiError extends Error {
  constructor(status, message, details = {}) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

export async function api(method, path, body = undefined) {
  const headers = authorization();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(env.apiBaseUrl + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => null);
  if (response.ok) return payload;
  if (response.status === 401 && session.token) signOut("Your session has ended: please sign in again.");
  const error = payload?.error;
  throw new ApiError(response.status, error?.message ?? `HTTP ${response.status}`, error?.details);
}

/** Ask the controller of an event to set it to `value`; answers the command, "pending" at first. */
export function sendCommand(eventPublicId, value) {
  return api("POST", `/events/${encodeURIComponent(eventPublicId)}/commands`, { value });
}

/** A command as the server last heard of it (see commands.js for following one). */
export function getCommand(commandId) {
  return api("GET", `/commands/${encodeURIComponent(commandId)}`);
}

/** An event's alarm rules, or every rule when no event is named. */
export async function listRules(eventPublicId = null) {
  return (await api("GET", "/rules" + query({ event_public_id: eventPublicId }))).rules;
}

/** A rule from the body alarms.js's ruleBody makes. */
export function createRule(body) {
  return api("POST", "/rules", body);
}

/** An "outside [min_value, max_value]" rule from the event's own limits. */
export function createRuleFromLimits(eventPublicId, severity) {
  return api("POST", `/events/${encodeURIComponent(eventPublicId)}/rules/from-limits`, { severity });
}

/** Replace a rule with the body ruleBody makes (the whole rule: a field left out takes its default). */
export function updateRule(ruleId, body) {
  return api("PUT", `/rules/${encodeURIComponent(ruleId)}`, body);
}

export function deleteRule(ruleId) {
  return api("DELETE", `/rules/${encodeURIComponent(ruleId)}`);
}

/** Acknowledge an alarm, active or cleared; answers the alarm. A second acknowledgement is refused with 409. */
export function acknowledgeAlarm(alarmId, comment) {
  return api("POST", `/alarms/${encodeURIComponent(alarmId)}/ack`, comment ? { comment } : {});
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of [value].flat()) {
      if (item !== null && item !== undefined && item !== "") search.append(name, item);
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// A plain link cannot carry the bearer token, so the file is fetched and handed to the browser.
export async function download(path, filename) {
  const response = await fetch(env.apiBaseUrl + path, { headers: authorization() });
  if (!response.ok) {
    const payload = await response.json().catch(() => null);
    throw new ApiError(response.status, payload?.error?.message ?? `HTTP ${response.status}`);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

function authorization() {
  return session.token ? { Authorization: `Bearer ${session.token}` } : {};
}

// The management pages: events, experiments, users and one's own password.
const inPath = (publicId) => encodeURIComponent(publicId);

export async function listEvents() {
  return (await api("GET", "/events")).data;
}

export function createEvent(body) {
  return api("POST", "/events", body);
}

/** Changes the fields given; answers the event. */
export function updateEvent(publicId, body) {
  return api("PUT", `/events/${inPath(publicId)}`, body);
}

/** Refused with 409 while the event has datapoints, unless `cascade` deletes them too. */
export function deleteEvent(publicId, cascade = false) {
  return api("DELETE", `/events/${inPath(publicId)}` + query({ cascade: cascade || null }));
}

const EXPERIMENTS_PAGE = 500;  // the most GET /experiments gives in one page

/** The newest `count` experiments, each with `readings` (counted up to 10,000: `readings_is_lower_bound` beyond),
 * page after page, and whether there are older ones. */
export async function listExperiments(count) {
  const experiments = [];
  let before = null;
  do {
    const page = await api("GET", "/experiments" + query({
      limit: Math.min(EXPERIMENTS_PAGE, count - experiments.length), before }));
    experiments.push(...page.data);
    before = page.next_before;
  } while (before !== null && experiments.length < count);
  return { experiments, more: before !== null };
}

export function startExperiment(name) {
  return api("POST", "/experiments", { name });
}

export function renameExperiment(publicId, name) {
  return api("PUT", `/experiments/${inPath(publicId)}`, { name });
}

export function stopExperiment(publicId) {
  return api("PUT", `/experiments/${inPath(publicId)}/stop`);
}

/** Refused with 409 while the experiment has datapoints, unless `cascade` deletes them too. */
export function deleteExperiment(publicId, cascade = false) {
  return api("DELETE", `/experiments/${inPath(publicId)}` + query({ cascade: cascade || null }));
}

export function exportExperiment(experiment) {
  return download(`/experiments/${inPath(experiment.public_id)}/export.csv`, `${experiment.public_id}.csv`);
}

export async function listUsers() {
  return (await api("GET", "/users")).users;
}

/** Without a password, the answer holds the `one_time_password`, shown this once. */
export function addUser(email, role, password = null) {
  return api("POST", "/users", { email, role, ...(password ? { password } : {}) });
}

/** Their sessions end; 409 for the last admin. */
export function changeRole(userId, role) {
  return api("PUT", `/users/${userId}`, { role });
}

/** A new one-time password in the answer; their sessions end. */
export function resetPassword(userId) {
  return api("PUT", `/users/${userId}`, { reset_password: true });
}

export function deleteUser(userId) {
  return api("DELETE", `/users/${userId}`);
}

/** Answers {access_token, user}: the new token for this session (every other one of the user ends). */
export function changeOwnPassword(currentPassword, newPassword) {
  return api("POST", "/auth/password", { current_password: currentPassword, new_password: newPassword });
}
