// Shows how live data reaches this page: `websocket`, `connecting (attempt n/3)` or `polling`.
import { computed } from "vue";
import { formatAge } from "../format.js";

export default {
  props: { state: { type: Object, required: true }, now: { type: Number, required: true } },
  setup(props) {
    const label = computed(() => {
      const { mode, attempt, maxAttempts } = props.state;
      if (mode === "connecting" && attempt > 0) return `connecting (attempt ${attempt}/${maxAttempts})`;
      return mode;
    });
    const lastData = computed(() => formatAge(props.state.lastDataAt, props.now));
    return { label, lastData };
  },
  template: `
    <div class="connection" :data-mode="state.mode" role="status" aria-live="polite">
      <span class="dot"></span>
      <span data-testid="connection-mode">{{ label }}</span>
      <span class="muted">· last data {{ lastData }}</span>
      <span v-if="state.lastError && state.mode !== 'websocket'" class="muted" :title="state.lastError">· {{ state.lastError }}</span>
    </div>`,
};
