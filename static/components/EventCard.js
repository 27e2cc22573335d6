// One event's card: its newest value, unit and age, and whether its chart is shown. It re-renders only
// when its own event's newest reading changes (at most once per animation frame) or the clock ticks.
import { computed } from "vue";
import { formatAge, formatValue } from "../format.js";

export default {
  props: {
    event: { type: Object, required: true },  // {public_id, name, unit}
    live: { type: Object, default: null },  // the event's LiveSeries (realtime.js); null until it has data
    now: { type: Number, required: true },
    charted: { type: Boolean, required: true },
  },
  emits: ["toggle-chart"],
  setup(props) {
    const latest = computed(() => {
      props.live?.version.value;  // the LiveSeries is not reactive: its version says when it changed
      return props.live?.latest ?? null;
    });
    const nameId = computed(() => `card-${props.event.public_id}`);
    return { latest, nameId, formatAge, formatValue };
  },
  template: `
    <article class="card panel" :data-event="event.public_id" :aria-labelledby="nameId">
      <header>
        <span :id="nameId" class="name" :title="event.public_id">{{ event.name }}</span>
        <label class="muted small"><input type="checkbox" :checked="charted"
          :aria-label="'Show the chart of ' + event.name"
          @change="$emit('toggle-chart', event.public_id)"> chart</label>
      </header>
      <div><span class="value">{{ formatValue(latest?.value) }}</span> <span class="unit">{{ event.unit }}</span></div>
      <div class="muted small age">{{ latest ? formatAge(latest.time, now) : "no data yet" }}</div>
    </article>`,
};
