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
