// Commands to actuators as the dashboard shows them: which control an event gets, what a command's status
// reads, and following one command until it ends. No Vue and no fetch here, so Node's test runner can run it.
import { formatValue } from "./format.js";

export const FINAL = new Set(["acked", "failed", "expired"]);
export const POLL_MS = 500;
// The server marks a command expired at its expires_at; a little longer lets the last poll see its word.
const EXPIRY_GRACE_MS = 2000;

const CONTROLS = { actuator: "switch", range: "setpoint", cmd_button: "button", cmd_opened: "button", cmd_closed: "button" };

/** The control an event's card offers: "switch", "setpoint" or "button"; null for a sensor (or no type). */
export function controlOf(type) {
  return CONTROLS[type] ?? null;
}

/** Whether an actuator is on: its newest value is not 0. With no value yet it counts as off. */
export function isOn(value) {
  return typeof value === "number" && value !== 0;
}

/** What the card says about a command: its status, and when it failed the controller's reason. */
export function statusText(command) {
  return command.status === "failed" && command.message ? `failed: ${command.message}` : command.status;
}

/** The one announcement of how a command ended, e.g. "Pump on: acked." or "Heater set to 42: failed: too hot." */
export function announcementOf(name, control, command) {
  const asked = control === "switch" ? (isOn(command.value) ? "on" : "off")
    : control === "setpoint" ? `set to ${formatValue(command.value)}` : "command";
  return `${name} ${asked}: ${statusText(command)}.`;
}

/** What the card says when the server refused a command: its details name the reason better than its message. */
export function refusalText(failure) {
  const reasons = Object.values(failure.details ?? {}).filter((reason) => typeof reason === "string");
  return `Not sent: ${reasons.length ? reasons.join("; ") : failure.message}`;
}

/** Why a setpoint cannot be sent, or null: it must be a number within the event's bounds (either may be null). */
export function setpointProblem(value, min, max) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "Enter a number.";
  if ((min !== null && value < min) || (max !== null && value > max)) return `Enter a value ${boundsText(min, max)}.`;
  return null;
}

function boundsText(min, max) {
  if (min !== null && max !== null) return `from ${formatValue(min)} to ${formatValue(max)}`;
  return min !== null ? `of at least ${formatValue(min)}` : `of at most ${formatValue(max)}`;
}

/** Where a setpoint field starts: the newest reading (within the bounds, as the card shows it), else the minimum. */
export function startingSetpoint(value, min, max) {
  if (typeof value !== "number") return min ?? 0;
  const within = Math.min(max ?? Infinity, Math.max(min ?? -Infinity, value));
  return Math.round(within * 1000) / 1000;
}

/** A slider step that gives about a hundred stops between the bounds: 1 for 0-100, 0.01 for 0-1. */
export function sliderStep(min, max) {
  return max > min ? 10 ** Math.floor(Math.log10((max - min) / 100)) : 1;
}

/**
 * Ask for the command every `intervalMs` until it ends: a final status, or its time to live has passed (then
 * it ends as "expired"). The time to live is counted on this browser's clock from now, so a server clock ahead
 * or behind does not cut the wait short or stretch it. onChange gets each answer that says something new,
 * onEnd the last one, once. A failed request is not the command's failure: the next poll asks again.
 * Returns a function that stops following.
 */
export function followCommand(command, { fetchCommand, onChange, onEnd, intervalMs = POLL_MS }) {
  const lifetime = Date.parse(command.expires_at) - Date.parse(command.created_at);
  const deadline = Date.now() + (Number.isFinite(lifetime) ? lifetime : 0) + EXPIRY_GRACE_MS;
  let current = command;
  let timer = null;
  let stopped = false;

  function end(last) {
    stopped = true;
    onEnd(last);
  }
  async function ask() {
    timer = null;
    try {
      const answer = await fetchCommand(current.command_id);
      if (stopped) return;
      const news = answer.status !== current.status || answer.message !== current.message;
      current = answer;
      if (news && !FINAL.has(answer.status)) onChange(answer);
    } catch {
      if (stopped) return;
    }
    if (FINAL.has(current.status)) end(current);
    else if (Date.now() >= deadline) end({ ...current, status: "expired" });
    else timer = setTimeout(ask, intervalMs);
  }

  if (FINAL.has(command.status)) end(command);
  else timer = setTimeout(ask, intervalMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
