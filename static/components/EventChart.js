// One event's Live chart, the last 15 minutes: the min-max band of each bucket with its average as the
// line, then the newest readings as they are. Redrawn in an animation frame, at most every REDRAW_MS,
// and only while on screen (one scrolled out of view catches up when it comes back). A stale event's
// chart is greyed (by CSS, without a redraw) and its caption says how long it has had no data.
import { computed, onBeforeUnmount, onMounted, ref, watch } from "vue";
import uPlot from "uplot";
import { formatSilence } from "../format.js";
import { LIVE_WINDOW_MS, lastReadingOf } from "../realtime.js";

// 15 minutes across a chart is a second or more per pixel: four redraws a second keep it live, and
// 50 charts at 10 readings/s each then cost 200 redraws a second instead of 500.
const REDRAW_MS = 250;
const NOTHING = [new Float64Array(0), new Float64Array(0), new Float64Array(0), new Float64Array(0)];

export default {
  props: {
    eventId: { type: String, required: true },
    label: { type: String, required: true },
    unit: { type: String, default: "" },
    live: { type: Object, default: null },  // the event's LiveSeries (realtime.js); null until it has data
    status: { type: Object, default: null },  // the server's verdict (realtime.js statuses); null: not stale
    now: { type: Number, required: true },  // the dashboard's ticking clock: the window slides with it
  },
  setup(props) {
    const figure = ref(null);
    const container = ref(null);
    let plot = null;
    let frame = null;
    let waiting = null;
    let drawnAt = -Infinity;
    let onScreen = true;
    let behind = false;  // changed while off screen
    let observers = [];

    // The LiveSeries is not reactive: its version says when it changed.
    const changed = () => props.live?.version.value;
    const readings = computed(() => {
      changed();
      return props.live?.count ?? 0;
    });
    const buckets = computed(() => {
      changed();
      return props.live?.buckets.length ?? 0;
    });
    const stale = computed(() => props.status?.stale === true);
    const silence = computed(() => stale.value && formatSilence(lastReadingOf(props.status, props.live), props.now));
    const columns = () => (props.live ? props.live.columns() : NOTHING);
    const size = () => ({ width: container.value.clientWidth, height: container.value.clientHeight });
    // Up to now, or to the newest reading if the server's clock is ahead of this one.
    const span = () => {
      const end = Math.max(Date.now(), props.live?.points.at(-1)?.time ?? 0);
      return [(end - LIVE_WINDOW_MS) / 1000, end / 1000];
    };

    function draw(time) {
      frame = null;
      behind = !onScreen;
      if (!plot || behind) return;
      drawnAt = time;
      plot.setData(columns());
    }
    function redraw() {
      behind = !onScreen;
      if (behind || frame !== null || waiting !== null) return;
      const wait = drawnAt + REDRAW_MS - performance.now();
      if (wait <= 0) {
        frame = requestAnimationFrame(draw);
        return;
      }
      waiting = setTimeout(() => {
        waiting = null;
        frame = requestAnimationFrame(draw);
      }, wait);
    }

    onMounted(() => {
      const faint = "rgba(37, 99, 235, 0.35)";
      plot = new uPlot({
        ...size(),
        scales: { x: { time: true, range: span } },
        series: [
          {},
          { label: "max", stroke: faint },
          { label: "min", stroke: faint },
          { label: props.unit ? `${props.label} (${props.unit})` : props.label, stroke: "#2563eb", width: 1.5 },
        ],
        bands: [{ series: [1, 2], fill: "rgba(37, 99, 235, 0.15)" }],
        axes: [{}, { size: 60 }],
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
      }, columns(), container.value);
      const resizing = new ResizeObserver(() => plot.setSize(size()));
      resizing.observe(container.value);
      const showing = new IntersectionObserver(([entry]) => {
        onScreen = entry.isIntersecting;
        if (onScreen && behind) redraw();
      });
      showing.observe(figure.value);
      observers = [resizing, showing];
    });
    watch(() => [props.live, changed(), props.now], redraw);
    onBeforeUnmount(() => {
      if (frame !== null) cancelAnimationFrame(frame);
      clearTimeout(waiting);
      for (const observer of observers) observer.disconnect();
      plot?.destroy();
    });
    return { figure, container, readings, buckets, stale, silence };
  },
  // data-points: the readings drawn (in buckets or as themselves); data-buckets: how many buckets.
  template: `
    <figure ref="figure" class="chart" :class="{ stale }" :data-chart="eventId" :data-points="readings"
      :data-buckets="buckets" :data-stale="stale">
      <figcaption>{{ label }}<span v-if="unit" class="muted"> ({{ unit }})</span><span v-if="stale"
        class="small stale-note"> · {{ silence }}</span></figcaption>
      <div ref="container" class="plot"></div>
    </figure>`,
};
