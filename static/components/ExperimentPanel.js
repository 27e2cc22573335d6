// The running experiment, and for operators the buttons to start and stop one. It tells the dashboard
// ("running") which one runs, so the charts can mark its start.
import { onMounted, ref, watch } from "vue";
import { api } from "../api.js";
import { mayOperate } from "../session.js";

export default {
  props: { seenExperiment: { type: String, default: null } },
  emits: ["running"],
  setup(props, { emit }) {
    const running = ref(null);
    const name = ref("");
    const error = ref(null);
    const busy = ref(false);

    async function refresh() {
      const { data } = await api("GET", "/experiments?running=true");
      running.value = data.find((experiment) => experiment.running) ?? null;
      emit("running", running.value);
    }
    async function act(work) {
      busy.value = true;
      error.value = null;
      try {
        await work();
        await refresh();
      } catch (failure) {
        error.value = failure.message;
      } finally {
        busy.value = false;
      }
    }
    const start = () => act(async () => {
      await api("POST", "/experiments", { name: name.value.trim() });
      name.value = "";
    });
    const stop = () => act(() => api("PUT", `/experiments/${encodeURIComponent(running.value.public_id)}/stop`));

    onMounted(() => act(() => Promise.resolve()));
    // Someone else may start or stop one: datapoints tagged differently mean it changed.
    watch(() => props.seenExperiment, (seen) => {
      if (seen !== (running.value?.public_id ?? null)) act(() => Promise.resolve());
    });
    return { running, name, error, busy, start, stop, mayOperate };
  },
  template: `
    <section class="experiment panel">
      <div>
        <span class="muted">Experiment</span>
        <strong data-testid="experiment-name">{{ running ? running.name : "none running" }}</strong>
      </div>
      <form v-if="mayOperate() && !running" @submit.prevent="start" class="inline">
        <input v-model="name" placeholder="Experiment name" aria-label="Experiment name" required maxlength="200">
        <button :disabled="busy || !name.trim()">Start</button>
      </form>
      <button v-if="mayOperate() && running" @click="stop" :disabled="busy">Stop</button>
      <span v-if="error" class="error" role="alert">{{ error }}</span>
    </section>`,
};
