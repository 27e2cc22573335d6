// One event's card: its name (cut to two lines on screen, whole on hover and for screen readers), newest
// value, unit, age and a sparkline of the Live window, whether it is charted, and a button to overlay it
// on another chart (the dashboard then asks which). It re-renders only
// when its own event's newest reading or status changes (at most once per animation frame) or the clock
// ticks. A stale event (the server's verdict) has its value greyed and says how long it has had no data;
// that note is the card's accessible description, so it is read with the card, never announced by itself.
// Operators and admins also get the event's control, when it is one that takes commands (ActuatorControl).
// An event with an active alarm is marked in words (and by its border): that note is read with the card too.
// Its alarm rules fold out below (EventRules).
import { computed } from "vue";
import { alarmMark, countBySeverity, worstSeverity } from "../alarms.js";
import { controlOf } from "../commands.js";
import { formatAge, formatSilence, formatValue } from "../format.js";
import { lastReadingOf } from "../realtime.js";
import { mayOperate } from "../session.js";
import ActuatorControl from "./ActuatorControl.js";
import EventRules from "./EventRules.js";
import Sparkline from "./Sparkline.js";

export default {
  components: { ActuatorControl, EventRules, Sparkline },
  props: {
    event: { type: Object, required: true },  // {public_id, name, unit, type, min_value, max_value}
    live: { type: Object, default: null },  // the event's LiveSeries (realtime.js); null until it has data
    status: { type: Object, default: null },  // the server's verdict (realtime.js statuses); null: not stale
    now: { type: Number, required: true },
    charted: { type: Boolean, required: true },
    overlayable: { type: Boolean, default: false },  // another chart could take it
    rules: { type: Array, required: true },  // the event's alarm rules
    alarms: { type: Array, required: true },  // its active alarms (openAlarms.js), none mostly
  },
  emits: ["toggle-chart", "overlay", "rules-changed"],
  setup(props) {
    const latest = computed(() => {
      props.live?.version.value;  // the LiveSeries is not reactive: its version says when it changed
      return props.live?.latest ?? null;
    });
    const stale = computed(() => props.status?.stale === true);
    const silence = computed(() => stale.value && formatSilence(lastReadingOf(props.status, props.live), props.now));
    const nameId = computed(() => `card-${props.event.public_id}`);
    const noteId = computed(() => `card-${props.event.public_id}-stale`);
    const alarmId = computed(() => `card-${props.event.public_id}-alarm`);
    const mark = computed(() => alarmMark(props.alarms));
    const severity = computed(() => worstSeverity(countBySeverity(props.alarms)));
    const described = computed(() => [stale.value && noteId.value, mark.value && alarmId.value].filter(Boolean)
      .join(" ") || undefined);
    // The server refuses anyone else; the page just does not offer what would be refused.
    const commandable = computed(() => mayOperate() && controlOf(props.event.type) !== null);
    return { latest, stale, silence, nameId, noteId, alarmId, mark, severity, described, commandable, formatAge,
             formatValue };
  },
  template: `
    <article class="card panel" :class="{ stale, alarmed: mark }" :data-event="event.public_id" :data-stale="stale"
      :data-alarm="severity ?? undefined" :aria-labelledby="nameId" :aria-describedby="described">
      <header>
        <span :id="nameId" class="name" :title="event.name + ' (' + event.public_id + ')'">{{ event.name }}</span>
        <label class="chart-toggle small"><input type="checkbox" :checked="charted"
          :aria-label="'Show the chart of ' + event.name"
          @change="$emit('toggle-chart', event.public_id)"> Chart</label>
      </header>
      <div class="reading"><span class="value">{{ formatValue(latest?.value) }}</span> <span class="unit">{{ event.unit }}</span>
        <Sparkline :live="live" :now="now" /></div>
      <div v-if="mark" :id="alarmId" class="small alarm-note" :data-severity="severity" data-testid="alarm-note">
        <span aria-hidden="true">⚠ </span>{{ mark }}</div>
      <div v-if="stale" :id="noteId" class="small stale-note" data-testid="stale-note">
        <span aria-hidden="true">⚠ </span>{{ silence }}</div>
      <div class="card-foot">
        <span v-if="!stale" class="muted small age">{{ latest ? formatAge(latest.time, now) : "no data yet" }}</span>
        <button v-if="overlayable" type="button" class="link small overlay-button"
          :aria-label="'Overlay ' + event.name + ' on another chart'" @click="$emit('overlay', event.public_id)">Overlay…</button>
      </div>
      <ActuatorControl v-if="commandable" :event="event" :value="latest?.value ?? null" />
      <EventRules :event="event" :rules="rules" @changed="$emit('rules-changed')" />
    </article>`,
};
