// Live values and charts per event, the running experiment, and how the data is arriving.
import { computed, onMounted, ref } from "vue";
import env from "../env.js";
import { api } from "../api.js";
import { useNow } from "../clock.js";
import { formatAge, formatValue } from "../format.js";
import { useRealtimeDatapoints } from "../realtime.js";
import { session, signOut } from "../session.js";
import ConnectionIndicator from "../components/ConnectionIndicator.js";
import EventChart from "../components/EventChart.js";
import ExperimentPanel from "../components/ExperimentPanel.js";

const HIDDEN_CHARTS_KEY = "webmacs.hiddenCharts";

export default {
  components: { ConnectionIndicator, EventChart, ExperimentPanel },
  setup() {
    const { state, datapoints } = useRealtimeDatapoints({
      env,
      token: session.token,
      onUnauthorized: () => signOut("Your session has ended: please sign in again."),
    });
    const now = useNow(1000);
    const events = ref([]);
    const loadError = ref(null);
    const hidden = ref(new Set(JSON.parse(localStorage.getItem(HIDDEN_CHARTS_KEY) ?? "[]")));

    onMounted(async () => {
      try {
        events.value = (await api("GET", "/events")).data;
      } catch (failure) {
        loadError.value = `Could not load events: ${failure.message}`;
      }
    });

    // Events created after the page loaded still get a card once their data arrives.
    const cards = computed(() => {
      const known = new Map(events.value.map((event) => [event.public_id, event]));
      for (const id of Object.keys(datapoints)) {
        if (!known.has(id)) known.set(id, { public_id: id, name: id, unit: "" });
      }
      return [...known.values()].map((event) => {
        const points = datapoints[event.public_id] ?? [];
        return { event, points, latest: points.at(-1) ?? null };
      });
    });
    const newest = computed(() => cards.value.reduce(
      (found, card) => (card.latest && (!found || card.latest.time > found.time) ? card.latest : found), null));

    function toggleChart(id) {
      const next = new Set(hidden.value);
      next.has(id) ? next.delete(id) : next.add(id);
      hidden.value = next;
      localStorage.setItem(HIDDEN_CHARTS_KEY, JSON.stringify([...next]));
    }

    return { state, now, cards, newest, hidden, loadError, toggleChart, formatAge, formatValue };
  },
  template: `
    <main class="dashboard">
      <div class="toolbar">
        <ExperimentPanel :seen-experiment="newest?.experiment_public_id ?? null" />
        <ConnectionIndicator :state="state" :now="now" />
      </div>
      <p v-if="loadError" class="error" role="alert">{{ loadError }}</p>
      <p v-if="!cards.length && !loadError" class="muted">
        No events yet. Create one (<code>app.py event add</code> or the API) and start a controller.
      </p>
      <section class="cards">
        <article v-for="card in cards" :key="card.event.public_id" class="card panel" :data-event="card.event.public_id">
          <header>
            <span class="name" :title="card.event.public_id">{{ card.event.name }}</span>
            <label class="muted small"><input type="checkbox" :checked="!hidden.has(card.event.public_id)"
              @change="toggleChart(card.event.public_id)"> chart</label>
          </header>
          <div><span class="value">{{ formatValue(card.latest?.value) }}</span> <span class="unit">{{ card.event.unit }}</span></div>
          <div class="muted small age">{{ card.latest ? formatAge(card.latest.time, now) : "no data yet" }}</div>
        </article>
      </section>
      <section class="charts">
        <template v-for="card in cards" :key="card.event.public_id">
          <EventChart v-if="!hidden.has(card.event.public_id)" class="panel" :event-id="card.event.public_id"
            :label="card.event.name" :unit="card.event.unit" :points="card.points" />
        </template>
      </section>
    </main>`,
};
