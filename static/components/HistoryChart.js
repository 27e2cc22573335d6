// A chart's history from /datapoints/series: for one event, the min-max band of each bucket and its average;
// for several overlaid, each one's average in its own colour (a second unit on the right axis). The alarm
// rules' thresholds are drawn as on the Live chart, and each experiment that ran in the span is shaded.
// Dragging across it zooms in (the parent fetches that span at a finer resolution); hovering shows the values.
// From the keyboard the same: focused, the arrow keys (Page Up/Down, Home, End) move the cursor from bucket
// to bucket and its values are read out; + and - zoom in and out around it (the toolbar's buttons too).
import { computed, onBeforeUnmount, onMounted, ref, watch } from "vue";
import uPlot from "uplot";
import { rangeWithLines, thresholdLines } from "../alarms.js";
import {
  describeBucket, describeExperiments, drawExperiments, drawThresholds, experimentSpans, useKeyboardCursor,
} from "./chartMarks.js";
import { formatTime } from "../format.js";
import { chartColours, faded, timeAxis, valueAxis } from "./chartStyle.js";
import { zoomedSpan } from "./RangePicker.js";

const SCALES = ["y", "y2"];
// The plot's height in px; the legend (the values under the cursor) follows below it, in as many lines as the
// chart's width needs, and the box grows to hold them.
const PLOT_HEIGHT = 192;

function shown(unit, digits = null) {
  const suffix = unit ? ` ${unit}` : "";
  return (u, v) => (v == null ? "–" : `${digits ? Number(v.toPrecision(digits)) : v}${suffix}`);
}

export default {
  props: {
    // [{id, label, unit, rules, buckets: [{t, min, max, avg, last, count}]}]
    traces: { type: Array, required: true },
    from: { type: Number, required: true },  // ms
    to: { type: Number, required: true },
    experiments: { type: Array, default: () => [] },  // those that ran in the span, as GET /experiments lists them
  },
  emits: ["zoom", "remove"],
  setup(props, { emit }) {
    const container = ref(null);
    let plot = null;
    let resizeObserver = null;
    const colours = chartColours();
    const single = props.traces.length === 1;
    const units = [...new Set(props.traces.map((trace) => trace.unit ?? ""))];
    const scaleOf = (trace) => SCALES[Math.max(0, units.indexOf(trace.unit ?? ""))] ?? "y";
    const colourOf = (at) => colours.series[at % colours.series.length];

    // Typed arrays: a month at 2,000 buckets is drawn from 5 columns, not 10,000 objects.
    function table(buckets, band) {
      const count = buckets.length;
      const time = new Float64Array(count), low = new Float64Array(count), high = new Float64Array(count),
        mean = new Float64Array(count);
      buckets.forEach((bucket, at) => {
        time[at] = Date.parse(bucket.t) / 1000;
        low[at] = bucket.min;
        high[at] = bucket.max;
        mean[at] = bucket.avg;
      });
      return band ? [time, high, low, mean] : [time, mean];
    }
    const columns = () => (single ? table(props.traces[0].buckets, true)
      : uPlot.join(props.traces.map((trace) => table(trace.buckets, false))));
    const lines = computed(() => props.traces.flatMap((trace) => thresholdLines(trace.rules ?? [])
      .map((line) => ({ ...line, scale: scaleOf(trace) }))));
    const thresholds = computed(() => lines.value.map((line) => line.label).join(", "));
    const ran = computed(() => describeExperiments(experimentSpans(props.experiments, props.from / 1000,
      props.to / 1000)));
    const range = (scale) => (self, min, max) => {
      const [low, high] = rangeWithLines(min, max, lines.value.filter((line) => line.scale === scale));
      return low === null ? [null, null] : uPlot.rangeNum(low, high, 0.1, true);
    };
    const size = () => ({ width: container.value.clientWidth, height: PLOT_HEIGHT });

    function options() {
      const base = {
        ...size(),
        cursor: { drag: { x: true, y: false } },
        hooks: {
          draw: [(self) => drawExperiments(self, props.experiments, colours),
                 (self) => drawThresholds(self, lines.value, colours)],
          setSelect: [(u) => {
            if (u.select.width < 2) return;
            const from = u.posToVal(u.select.left, "x") * 1000, to = u.posToVal(u.select.left + u.select.width, "x") * 1000;
            u.setSelect({ left: 0, width: 0 }, false);
            emit("zoom", { from: Math.round(from), to: Math.round(to) });
          }],
        },
      };
      const x = { time: true, range: () => [props.from / 1000, props.to / 1000] };
      if (single) {
        const [trace] = props.traces;
        const colour = colourOf(0);
        return { ...base,
          scales: { x, y: { range: range("y") } },
          series: [
            {},
            { label: "max", stroke: faded(colour, 0.35), value: shown(trace.unit) },
            { label: "min", stroke: faded(colour, 0.35), value: shown(trace.unit) },
            { label: "avg", stroke: colour, width: 1.5, value: shown(trace.unit, 6) },
          ],
          bands: [{ series: [1, 2], fill: faded(colour, 0.15) }],
          axes: [timeAxis(colours), valueAxis(colours)],
        };
      }
      return { ...base,
        scales: { x, ...Object.fromEntries(units.map((unit, at) => [SCALES[at], { range: range(SCALES[at]) }])) },
        series: [{}, ...props.traces.map((trace, at) => ({
          label: trace.label, scale: scaleOf(trace), stroke: colourOf(at), width: 1.5, spanGaps: true,
          value: shown(trace.unit, 6),
        }))],
        axes: [timeAxis(colours), ...units.map((unit, at) => valueAxis(colours, SCALES[at],
          { side: at === 0 ? 3 : 1, label: unit || undefined, grid: at === 0 }))],
      };
    }

    // The keyboard's cursor: each trace's bucket at the cursor's time, in words.
    const bucketsAt = computed(() => props.traces.map((trace) => new Map(trace.buckets
      .map((bucket) => [Date.parse(bucket.t) / 1000, bucket]))));
    function describe(index) {
      const time = plot.data[0][index];
      const when = formatTime(time * 1000);
      const said = props.traces.map((trace, at) => {
        const words = describeBucket(bucketsAt.value[at].get(time), trace.unit);
        return single ? words : `${trace.label} ${words}`;
      });
      return `${when}: ${said.join("; ")}`;
    }
    const cursor = useKeyboardCursor(() => plot, single ? 3 : 1, describe);  // on the average, or the first line
    function onKey(event) {
      if (!plot || event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.key === "+" || event.key === "=" || event.key === "-") {
        event.preventDefault();
        const index = plot.cursor.idx ?? -1;
        const centre = index >= 0 ? plot.data[0][index] * 1000 : undefined;
        emit("zoom", zoomedSpan({ from: props.from, to: props.to }, event.key === "-" ? 2 : 0.5, centre));
        return;
      }
      cursor.onKey(event);
    }

    onMounted(() => {
      plot = new uPlot(options(), columns(), container.value);
      // Only a new width: the box's height follows the legend, which follows the plot.
      resizeObserver = new ResizeObserver(() => {
        if (plot.width !== container.value.clientWidth) plot.setSize(size());
      });
      resizeObserver.observe(container.value);
    });
    watch(() => [props.traces.map((trace) => trace.buckets), props.from, props.to], () => plot?.setData(columns()));
    watch(() => [lines.value, props.experiments], () => plot?.redraw());
    onBeforeUnmount(() => {
      resizeObserver?.disconnect();
      plot?.destroy();
    });
    return { container, single, colourOf, spoken: cursor.spoken, thresholds, ran, onKey, onBlur: cursor.onBlur };
  },
  template: `
    <figure class="chart" :data-chart="traces[0].id" :data-events="traces.map((trace) => trace.id).join(' ')"
      :data-buckets="traces.reduce((sum, trace) => sum + trace.buckets.length, 0)" :data-from="from" :data-to="to"
      :data-experiments="experiments.map((experiment) => experiment.public_id).join(' ')">
      <figcaption>
        <template v-if="single">{{ traces[0].label }}<span v-if="traces[0].unit" class="muted"> ({{ traces[0].unit }})</span></template>
        <ul v-else class="legend">
          <li v-for="(trace, at) in traces" :key="trace.id" :data-series="trace.id" :data-buckets="trace.buckets.length">
            <span class="swatch" :style="{ background: colourOf(at) }" aria-hidden="true"></span>
            <span class="legend-name" :title="trace.label">{{ trace.label }}</span><span v-if="trace.unit"
              class="muted"> ({{ trace.unit }})</span>
            <button type="button" class="link remove" :aria-label="'Remove ' + trace.label + ' from this chart'"
              @click="$emit('remove', trace.id)">✕</button>
          </li>
        </ul><span v-if="thresholds" class="visually-hidden">; alarm thresholds: {{ thresholds }}</span><span
          v-if="ran" class="visually-hidden">; {{ ran }}</span>
      </figcaption>
      <div ref="container" class="plot history-plot" tabindex="0" role="group" :aria-label="'Chart of ' +
        traces.map((trace) => trace.label).join(' and ') + ': arrow keys read the values, + and - zoom'"
        @keydown="onKey" @blur="onBlur"></div>
      <p class="visually-hidden" role="status">{{ spoken }}</p>
    </figure>`,
};
