// One event's Live chart, the last 15 minutes: the min-max band of each bucket with its average as the
// line, then the newest readings as they are. Redrawn in an animation frame, at most every REDRAW_MS,
// and only while on screen (one scrolled out of view catches up when it comes back).
import { computed, onBeforeUnmount, onMounted, ref, watch } from "vue";
import uPlot from "uplot";
import { LIVE_WINDOW_MS } from "../realtime.js";

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
    let stale = false;  // changed while off screen
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
    const columns = () => (props.live ? props.live.columns() : NOTHING);
    const size = () => ({ width: container.value.clientWidth, height: container.value.clientHeight });
    // Up to now, or to the newest reading if the server's clock is ahead of this one.
    const span = () => {
      const end = Math.max(Date.now(), props.live?.points.at(-1)?.time ?? 0);
      return [(end - LIVE_WINDOW_MS) / 1000, end / 1000];
    };

    function draw(time) {
      frame = null;
      stale = !onScreen;
      if (!plot || stale) return;
      drawnAt = time;
      plot.setData(columns());
    }
    function redraw() {
      stale = !onScreen;
      if (stale || frame !== null || waiting !== null) return;
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
        if (onScreen && stale) redraw();
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
    return { figure, container, readings, buckets };
  },
  // data-points: the readings drawn (in buckets or as themselves); data-buckets: how many buckets.
  template: `
    <figure ref="figure" class="chart" :data-chart="eventId" :data-points="readings" :data-buckets="buckets">
      <figcaption>{{ label }}<span v-if="unit" class="muted"> ({{ unit }})</span></figcaption>
      <div ref="container" class="plot"></div>
    </figure>`,
};
