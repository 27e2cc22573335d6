// Which time range the charts show: Live (the stream), a preset span up to now, or a custom from-to.
import { reactive } from "vue";

export const PRESETS = [
  { key: "live", label: "Live" },
  { key: "1h", label: "1 h", seconds: 3600 },
  { key: "24h", label: "24 h", seconds: 86400 },
  { key: "7d", label: "7 d", seconds: 7 * 86400 },
  { key: "30d", label: "30 d", seconds: 30 * 86400 },
];

/** The span a preset stands for, ending now; null for Live. */
export function spanOf(key, now = Date.now()) {
  const preset = PRESETS.find((candidate) => candidate.key === key);
  return preset?.seconds ? { from: now - preset.seconds * 1000, to: now } : null;
}

/** The span `factor` times as long around the same middle (or around `centre`, ms): 0.5 zooms in, 2 out. */
export function zoomedSpan(span, factor, centre = (span.from + span.to) / 2) {
  const before = (centre - span.from) * factor, after = (span.to - centre) * factor;
  return { from: Math.round(centre - before), to: Math.round(centre + after) };
}

/** The span moved by `fraction` of its length: -0.5 half a span earlier, 0.5 later. */
export function shiftedSpan(span, fraction) {
  const by = Math.round((span.to - span.from) * fraction);
  return { from: span.from + by, to: span.to + by };
}

export default {
  props: { modelValue: { type: String, required: true } },
  emits: ["update:modelValue", "custom"],
  setup(props, { emit }) {
    const custom = reactive({ from: "", to: "" });
    function applyCustom() {
      const from = Date.parse(custom.from), to = Date.parse(custom.to);
      if (Number.isFinite(from) && Number.isFinite(to) && from < to) emit("custom", { from, to });
    }
    return { PRESETS, custom, applyCustom, choose: (key) => emit("update:modelValue", key) };
  },
  template: `
    <div class="range" role="group" aria-label="Time range">
      <button v-for="preset in PRESETS" :key="preset.key" type="button" class="toggle"
        :aria-pressed="modelValue === preset.key ? 'true' : 'false'" @click="choose(preset.key)">{{ preset.label }}</button>
      <form class="inline" @submit.prevent="applyCustom">
        <label class="small">From <input v-model="custom.from" type="datetime-local" step="1"></label>
        <label class="small">To <input v-model="custom.to" type="datetime-local" step="1"></label>
        <button type="submit" class="toggle" :aria-pressed="modelValue === 'custom' ? 'true' : 'false'">Show</button>
      </form>
    </div>`,
};
