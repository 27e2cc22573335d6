// One event's Live chart, the last 15 minutes: the min-max band of each bucket with its average as the
// line, then the newest readings as they are. Redrawn in an animation frame, at most every REDRAW_MS,
// and only while on screen (one scrolled out of view catches up when it comes back). A stale event's
// chart is greyed (by CSS, without a redraw) and its caption says how long it has had no data. Each alarm
// rule of the event draws a dashed line where its alarm zone begins, labelled, and the y axis stretches to
// show it; an active alarm is named in the caption.
import { computed, onBeforeUnmount, onMounted, ref, watch } from "vue";
import uPlot from "uplot";
import { alarmMark, countBySeverity, rangeWithLines, thresholdLines, worstSeverity } from "../alarms.js";
import { formatSilence } from "../format.js";
import { LIVE_WINDOW_MS, lastReadingOf } from "../realtime.js";

// 15 minutes across a chart is a second or more per pixel: four redraws a second keep it live, and
// 50 charts at 10 readings/s each then cost 200 redraws a second instead of 500.
const REDRAW_MS = 250;
const NOTHING = [new Float64Array(0), new Float64Array(0), new Float64Array(0), new Float64Array(0)];
// Lines and their labels, by severity: at least 4.5:1 on white, as text must be.
const LINE_COLOURS = { critical: "#b91c1c", warning: "#b45309", info: "#1d4ed8" };

/** Draws the rules' lines over the plot (a uPlot draw hook); `lines` as alarms.js's thresholdLines gives them. */
function drawLines(plot, lines) {
  const { ctx, bbox } = plot;
  const ratio = uPlot.pxRatio;
  ctx.save();
  ctx.lineWidth = ratio;
  ctx.setLineDash([6 * ratio, 4 * ratio]);
  ctx.font = `${11 * ratio}px system-ui, sans-serif`;
  ctx.textAlign = "right";
  ctx.textBaseline = "bottom";
  for (const line of lines) {
    const y = Math.round(plot.valToPos(line.value, "y", true));
    if (y < bbox.top || y > bbox.top + bbox.height) continue;
    ctx.strokeStyle = ctx.fillStyle = LINE_COLOURS[line.severity] ?? LINE_COLOURS.warning;
    ctx.beginPath();
    ctx.moveTo(bbox.left, y);
    ctx.lineTo(bbox.left + bbox.width, y);
    ctx.stroke();
    ctx.fillText(line.label, bbox.left + bbox.width - 4 * ratio, y - 2 * ratio);
  }
  ctx.restore();
}

export default {
  props: {
    eventId: { type: String, required: true },
    label: { type: String, required: true },
    unit: { type: String, default: "" },
    live: { type: Object, default: null },  // the event's LiveSeries (realtime.js); null until it has data
    status: { type: Object, default: null },  // the server's verdict (realtime.js statuses); null: not stale
    now: { type: Number, required: true },  // the dashboard's ticking clock: the window slides with it
    rules: { type: Array, required: true },  // the event's alarm rules: their thresholds are drawn
    alarms: { type: Array, required: true },  // its active alarms (openAlarms.js)
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
    const mark = computed(() => alarmMark(props.alarms));
    const severity = computed(() => worstSeverity(countBySeverity(props.alarms)));
    const lines = computed(() => thresholdLines(props.rules));
    const thresholds = computed(() => lines.value.map((line) => line.label).join(", "));
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
        scales: {
          x: { time: true, range: span },
          y: {
            range: (self, min, max) => {
              const [low, high] = rangeWithLines(min, max, lines.value);
              return low === null ? [null, null] : uPlot.rangeNum(low, high, 0.1, true);
            },
          },
        },
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
        hooks: { draw: [(self) => drawLines(self, lines.value)] },
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
    watch(() => [props.live, changed(), props.now, lines.value], redraw);
    onBeforeUnmount(() => {
      if (frame !== null) cancelAnimationFrame(frame);
      clearTimeout(waiting);
      for (const observer of observers) observer.disconnect();
      plot?.destroy();
    });
    return { figure, container, readings, buckets, stale, silence, mark, severity, thresholds };
  },
  // data-points: the readings drawn (in buckets or as themselves); data-buckets: how many buckets.
  template: `
    <figure ref="figure" class="chart" :class="{ stale, alarmed: mark }" :data-chart="eventId" :data-points="readings"
      :data-buckets="buckets" :data-stale="stale" :data-alarm="severity ?? undefined">
      <figcaption>{{ label }}<span v-if="unit" class="muted"> ({{ unit }})</span><span v-if="stale"
        class="small stale-note"> · {{ silence }}</span><span v-if="mark" class="small alarm-note"
        :data-severity="severity" data-testid="chart-alarm"> · <span aria-hidden="true">⚠ </span>{{ mark }}</span><span
        v-if="thresholds" class="visually-hidden">; alarm thresholds: {{ thresholds }}</span></figcaption>
      <div ref="container" class="plot"></div>
    </figure>`,
};
