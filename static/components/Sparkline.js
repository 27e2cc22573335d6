// A card's small picture of its event's Live window: SLOTS averages across the last 15 minutes, as one
// SVG line in the text's colour. Redrawn when the dashboard's clock ticks (once a second), not per
// reading: a hundred cards at five readings a second each would otherwise redraw 500 times a second.
// Decorative (the card says the value in words), so hidden from screen readers.
import { computed } from "vue";
import { LIVE_WINDOW_MS } from "../realtime.js";

export const SLOTS = 60;
const WIDTH = 100, HEIGHT = 24;

/** The SVG path of a LiveSeries' window ending at `now` (ms): "" when it has fewer than two slots with data. */
export function sparkPath(live, now) {
  if (!live) return "";
  const start = now - LIVE_WINDOW_MS;
  const sums = new Float64Array(SLOTS), counts = new Uint32Array(SLOTS);
  const add = (time, value, count) => {
    const slot = Math.floor(((time - start) / LIVE_WINDOW_MS) * SLOTS);
    if (slot < 0 || slot >= SLOTS || !Number.isFinite(value)) return;
    sums[slot] += value * count;
    counts[slot] += count;
  };
  for (const bucket of live.buckets) add(bucket.t, bucket.sum / bucket.count, bucket.count);
  for (const point of live.points) add(point.time, point.value, 1);
  const slots = [];
  for (let slot = 0; slot < SLOTS; slot += 1) if (counts[slot]) slots.push([slot, sums[slot] / counts[slot]]);
  if (slots.length < 2) return "";
  let low = Infinity, high = -Infinity;
  for (const [, value] of slots) {
    low = Math.min(low, value);
    high = Math.max(high, value);
  }
  const spread = high - low || 1;
  return slots.map(([slot, value], at) => {
    const x = ((slot + 0.5) / SLOTS) * WIDTH;
    const y = high === low ? HEIGHT / 2 : HEIGHT - 1 - ((value - low) / spread) * (HEIGHT - 2);
    return `${at ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)}`;
  }).join("");
}

export default {
  props: {
    live: { type: Object, default: null },  // the event's LiveSeries (realtime.js)
    now: { type: Number, required: true },
  },
  setup(props) {
    // Follows the clock only: the LiveSeries' version is not read, so readings alone do not redraw it.
    const path = computed(() => sparkPath(props.live, props.now));
    return { path, WIDTH, HEIGHT };
  },
  template: `
    <svg class="sparkline" :viewBox="'0 0 ' + WIDTH + ' ' + HEIGHT" preserveAspectRatio="none" aria-hidden="true"
      focusable="false"><path v-if="path" :d="path" /></svg>`,
};
