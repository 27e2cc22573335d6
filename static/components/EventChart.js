// A Live chart, the last 15 minutes, of one event or of several overlaid. One event: the min-max band of
// each bucket with its average as the line, then the newest readings as they are. Several: a line each, in
// its own colour, on the left axis for the first unit and the right one for a second (the dashboard lets
// no third unit join). Redrawn in an animation frame, at most once per pixel's time (see REDRAW_MS), and
// only while on screen (one scrolled out of view catches up when it comes back). A stale event's chart is greyed (by CSS,
// without a redraw) and its caption says how long it has had no data. Each alarm rule draws a dashed line
// where its alarm zone begins, labelled, and the axis stretches to show it; an active alarm is named in
// the caption. The running experiment is shaded from its start (chartMarks.js). The events it shows are fixed: the dashboard makes a new chart when they change.
import { computed, onBeforeUnmount, onMounted, ref, watch } from "vue";
import uPlot from "uplot";
import { alarmMark, countBySeverity, rangeWithLines, thresholdLines, worstSeverity } from "../alarms.js";
import { formatSilence, formatTime } from "../format.js";
import { LIVE_WINDOW_MS, lastReadingOf } from "../realtime.js";
import { describePoint, drawExperiments, drawThresholds, useKeyboardCursor } from "./chartMarks.js";
import { chartColours, faded, timeAxis, valueAxis } from "./chartStyle.js";

// 15 minutes across a chart is a second or more per pixel, so the window moves a pixel that often: a chart
// is redrawn at most once per pixel's time, between a quarter of a second and one second (the newest
// value shows at once on its card). 100 charts on screen at 5 readings/s each then cost about 100
// redraws a second, not 400 (bench/RESULTS.md).
const REDRAW_MS = 250;
const REDRAW_MAX_MS = 1000;
const NOTHING = [new Float64Array(0), new Float64Array(0), new Float64Array(0), new Float64Array(0)];
const SCALES = ["y", "y2"];

export default {
  props: {
    // Each event drawn: {id, label, unit, live (its LiveSeries, null until it has data), status (the
    // server's verdict, null: not stale), rules, alarms (its active ones)}.
    traces: { type: Array, required: true },
    now: { type: Number, required: true },  // the dashboard's ticking clock: the window slides with it
    experiment: { type: Object, default: null },  // the running one ({public_id, name, started_at}): shaded
  },
  emits: ["remove"],
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

    const colours = chartColours();
    const single = props.traces.length === 1;
    const units = [...new Set(props.traces.map((trace) => trace.unit ?? ""))];
    const scaleOf = (trace) => SCALES[Math.max(0, units.indexOf(trace.unit ?? ""))] ?? "y";
    const colourOf = (at) => colours.series[at % colours.series.length];

    // The LiveSeries are not reactive: their versions say when they changed.
    const versions = () => props.traces.map((trace) => trace.live?.version.value);
    const counts = computed(() => {
      versions();
      return props.traces.map((trace) => trace.live?.count ?? 0);
    });
    const readings = computed(() => counts.value.reduce((sum, count) => sum + count, 0));
    const buckets = computed(() => {
      versions();
      return props.traces.reduce((sum, trace) => sum + (trace.live?.buckets.length ?? 0), 0);
    });
    const stale = computed(() => props.traces.some((trace) => trace.status?.stale === true));
    const alarms = computed(() => props.traces.flatMap((trace) => trace.alarms));
    const mark = computed(() => alarmMark(alarms.value));
    const severity = computed(() => worstSeverity(countBySeverity(alarms.value)));
    const lines = computed(() => props.traces.flatMap((trace) => thresholdLines(trace.rules)
      .map((line) => ({ ...line, scale: scaleOf(trace) }))));
    const thresholds = computed(() => lines.value.map((line) => line.label).join(", "));
    const silence = computed(() => {
      const quiet = props.traces.find((trace) => trace.status?.stale === true);
      return quiet ? formatSilence(lastReadingOf(quiet.status, quiet.live), props.now) : "";
    });
    const title = computed(() => props.traces.map((trace) => trace.label).join(" + "));
    const legend = computed(() => props.traces.map((trace, at) => ({
      id: trace.id, label: trace.label, unit: trace.unit, colour: colourOf(at), points: counts.value[at],
      stale: trace.status?.stale === true,
    })));

    // One event: its band and line. Several: each one's line, on one time axis (uPlot.join aligns them).
    function columns() {
      if (single) return props.traces[0].live ? props.traces[0].live.columns() : NOTHING;
      const tables = props.traces.map((trace) => {
        const [time, , , line] = trace.live ? trace.live.columns() : NOTHING;
        return [time, line];
      });
      return uPlot.join(tables);
    }
    const size = () => ({ width: container.value.clientWidth, height: container.value.clientHeight });
    // Up to now, or to the newest reading if the server's clock is ahead of this one.
    const span = () => {
      const newest = Math.max(...props.traces.map((trace) => trace.live?.points.at(-1)?.time ?? 0));
      const end = Math.max(Date.now(), newest);
      return [(end - LIVE_WINDOW_MS) / 1000, end / 1000];
    };
    const range = (scale) => (self, min, max) => {
      const [low, high] = rangeWithLines(min, max, lines.value.filter((line) => line.scale === scale));
      return low === null ? [null, null] : uPlot.rangeNum(low, high, 0.1, true);
    };

    function options() {
      const base = { ...size(), legend: { show: false }, cursor: { drag: { x: false, y: false } },
                     hooks: { draw: [(self) => drawExperiments(self, [props.experiment].filter(Boolean), colours),
                                     (self) => drawThresholds(self, lines.value, colours)] } };
      if (single) {
        const [trace] = props.traces;
        const colour = colourOf(0);
        return { ...base,
          scales: { x: { time: true, range: span }, y: { range: range("y") } },
          series: [
            {},
            { label: "max", stroke: faded(colour, 0.35) },
            { label: "min", stroke: faded(colour, 0.35) },
            { label: trace.unit ? `${trace.label} (${trace.unit})` : trace.label, stroke: colour, width: 1.5 },
          ],
          bands: [{ series: [1, 2], fill: faded(colour, 0.15) }],
          axes: [timeAxis(colours), valueAxis(colours)],
        };
      }
      return { ...base,
        scales: { x: { time: true, range: span }, ...Object.fromEntries(units.map((unit, at) =>
          [SCALES[at], { range: range(SCALES[at]) }])) },
        series: [{}, ...props.traces.map((trace, at) => ({
          label: trace.unit ? `${trace.label} (${trace.unit})` : trace.label, scale: scaleOf(trace),
          stroke: colourOf(at), width: 1.5, spanGaps: true,
        }))],
        axes: [timeAxis(colours), ...units.map((unit, at) => valueAxis(colours, SCALES[at],
          { side: at === 0 ? 3 : 1, label: unit || undefined, grid: at === 0 }))],
      };
    }

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
      const perPixel = LIVE_WINDOW_MS / Math.max(1, container.value?.clientWidth ?? 1);
      const wait = drawnAt + Math.min(REDRAW_MAX_MS, Math.max(REDRAW_MS, perPixel)) - performance.now();
      if (wait <= 0) {
        frame = requestAnimationFrame(draw);
        return;
      }
      waiting = setTimeout(() => {
        waiting = null;
        frame = requestAnimationFrame(draw);
      }, wait);
    }

    // The keyboard's cursor (as on history charts): the arrows move it from point to point, read out below.
    function describe(index) {
      const data = plot.data;
      const said = single ? describePoint(data[3][index], data[1][index], data[2][index], props.traces[0].unit)
        : props.traces.map((trace, at) => `${trace.label} ${describePoint(data[at + 1][index], null, null, trace.unit)}`)
          .join("; ");
      return `${formatTime(data[0][index] * 1000)}: ${said}`;
    }
    const cursor = useKeyboardCursor(() => plot, single ? 3 : 1, describe);
    function onKey(event) {
      if (plot && (behind || !plot.data[0]?.length)) {  // focused as it scrolled into view, before its observer said
        plot.setData(columns());
        behind = false;
        drawnAt = performance.now();
      }
      cursor.onKey(event);
    }

    onMounted(() => {
      plot = new uPlot(options(), columns(), container.value);
      const resizing = new ResizeObserver(() => plot.setSize(size()));
      resizing.observe(container.value);
      const showing = new IntersectionObserver(([entry]) => {
        onScreen = entry.isIntersecting;
        if (onScreen && behind) redraw();
      });
      showing.observe(figure.value);
      observers = [resizing, showing];
    });
    watch(() => [props.traces.map((trace) => trace.live), versions(), props.now, lines.value, props.experiment], redraw);
    onBeforeUnmount(() => {
      if (frame !== null) cancelAnimationFrame(frame);
      clearTimeout(waiting);
      for (const observer of observers) observer.disconnect();
      plot?.destroy();
    });
    return { figure, container, single, readings, buckets, stale, silence, mark, severity, thresholds, title, legend,
             spoken: cursor.spoken, onKey, onBlur: cursor.onBlur };
  },
  // data-chart: the (first) event; data-events: every event; data-points: the readings drawn (in buckets or
  // as themselves); data-buckets: how many buckets. Several events: each one's count in its legend entry.
  template: `
    <figure ref="figure" class="chart" :class="{ stale, alarmed: mark }" :data-chart="traces[0].id"
      :data-events="traces.map((trace) => trace.id).join(' ')" :data-points="readings" :data-buckets="buckets"
      :data-stale="stale" :data-alarm="severity ?? undefined" :data-experiment="experiment?.public_id">
      <figcaption>
        <template v-if="single">{{ traces[0].label }}<span v-if="traces[0].unit" class="muted"> ({{ traces[0].unit }})</span></template>
        <template v-else><span class="visually-hidden">{{ title }}</span>
          <ul class="legend">
            <li v-for="entry in legend" :key="entry.id" :data-series="entry.id" :data-points="entry.points">
              <span class="swatch" :style="{ background: entry.colour }" aria-hidden="true"></span>
              <span class="legend-name" :title="entry.label">{{ entry.label }}</span><span v-if="entry.unit"
                class="muted"> ({{ entry.unit }})</span>
              <button type="button" class="link remove" :aria-label="'Remove ' + entry.label + ' from this chart'"
                @click="$emit('remove', entry.id)">✕</button>
            </li>
          </ul>
        </template><span v-if="stale" class="small stale-note"> · {{ silence }}</span><span v-if="mark"
        class="small alarm-note" :data-severity="severity" data-testid="chart-alarm"> · <span
        aria-hidden="true">⚠ </span>{{ mark }}</span><span v-if="thresholds"
        class="visually-hidden">; alarm thresholds: {{ thresholds }}</span><span v-if="experiment"
        class="visually-hidden">; experiment {{ experiment.name }} running, marked from its start</span></figcaption>
      <div ref="container" class="plot" tabindex="0" role="group" :aria-label="'Live chart of ' +
        traces.map((trace) => trace.label).join(' and ') + ': arrow keys read the values'" @keydown="onKey"
        @blur="onBlur"></div>
      <p class="small muted cursor-readout" role="status">{{ spoken }}</p>
    </figure>`,
};
