// The open alarms (active, or not yet acknowledged), for the banner, the cards and the charts: the one list
// of them on the page. While the dashboard's stream is open its alarm frames change it; while none is (other
// pages, or the dashboard polling), GET /alarms?state=open is asked every poll interval instead. Either way
// the list is read anew whenever a stream opens, since nothing told of what happened before.
import { onScopeDispose, reactive, readonly } from "vue";
import { alarmOfFrame, applyAlarm, fromAnswer } from "./alarms.js";
import { api, query } from "./api.js";
import env from "./env.js";

const PAGE = 500;  // the API's largest page

const state = reactive({ list: [], loaded: false, error: null });
export const openAlarms = readonly(state);

const closed = new Set();  // ids of alarms seen closed (see applyAlarm)
let users = 0;  // components using the list: it is kept fresh only while there are some
let streams = 0;  // open streams whose alarm frames keep it fresh
let timer = null;
let retry = null;  // a failed reload while a stream is open: nothing else would ask again
let reloading = null;  // the frames taken in while a reload is in flight, else null
let again = false;

/** Keep the list fresh while the calling component lives. */
export function useOpenAlarms() {
  users += 1;
  if (users === 1) {
    reload();
    schedule();
  }
  onScopeDispose(() => {
    users -= 1;
    if (!users) {
      clearInterval(timer);
      clearTimeout(retry);
      timer = retry = null;
    }
  });
  return openAlarms;
}

/** For useRealtimeDatapoints' onAlarm: one of the stream's alarm frames. */
export function takeAlarmFrame(frame) {
  const alarm = alarmOfFrame(frame);
  if (alarm) take(alarm);
}

/** For useRealtimeDatapoints' onAlarmFeed: a stream that carries alarm frames opened (true) or closed. */
export function alarmFeed(open) {
  streams = Math.max(0, streams + (open ? 1 : -1));
  if (open) reload();
  schedule();
}

/** An alarm as an API answer gave it (say, once acknowledged): it may change the list before its frame comes. */
export function takeAlarm(alarm) {
  take(alarm);
}

function take(alarm) {
  reloading?.push(alarm);
  state.list = applyAlarm(state.list, alarm, closed);
}

function schedule() {
  const polling = users > 0 && streams === 0;
  if (polling && timer === null) timer = setInterval(reload, env.pollIntervalMs);
  if (!polling && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}

// One reload at a time; one asked for meanwhile runs once after it, as it may have been asked for news.
async function reload() {
  if (reloading) {
    again = true;
    return;
  }
  reloading = [];
  try {
    const answer = [];
    let before = null;
    do {
      const page = await api("GET", "/alarms" + query({ state: "open", limit: PAGE, before }));
      answer.push(...page.alarms);
      before = page.next_before;
    } while (before);
    state.list = fromAnswer(answer, reloading, closed);
    state.loaded = true;
    state.error = null;
  } catch (failure) {
    state.error = `Could not load alarms: ${failure.message}`;
    if (streams && users && retry === null) {
      retry = setTimeout(() => {
        retry = null;
        reload();
      }, env.pollIntervalMs);
    }
  } finally {
    reloading = null;
  }
  if (again) {
    again = false;
    reload();
  }
}
