// A chart's history from /datapoints/series: for one event, the min-max band of each bucket and its average;
// for several overlaid, each one's average in its own colour (a second unit on the right axis).
// Dragging across it zooms in (the parent fetches that span at a finer resolution); hovering shows the values.
import { onBeforeUnmount, onMounted, ref, watch } from "vue";
import uPlot from "uplot";
import { chartColours, faded, timeAxis, valueAxis } from "./chartStyle.js";

const SCALES = ["y", "y2"];
// The legend (the values under the cursor) sits below the plot, inside the same box.
const LEGEND_HEIGHT = 32;

function shown(unit, digits = null) {
  const suffix = unit ? ` ${unit}` : "";
  return (u, v) => (v == null ? "–" : `${digits ? Number(v.toPrecision(digits)) : v}${suffix}`);
}

export default {
  props: {
    traces: { type: Array, required: true },  // [{id, label, unit, buckets: [{t, min, max, avg, last, count}]}]
    from: { type: Number, required: true },  // ms
    to: { type: Number, required: true },
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
    const size = () => ({ width: container.value.clientWidth, height: container.value.clientHeight - LEGEND_HEIGHT });

    function options() {
      const base = {
        ...size(),
        cursor: { drag: { x: true, y: false } },
        hooks: {
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
          scales: { x },
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
        scales: { x, ...Object.fromEntries(units.map((unit, at) => [SCALES[at], {}])) },
        series: [{}, ...props.traces.map((trace, at) => ({
          label: trace.label, scale: scaleOf(trace), stroke: colourOf(at), width: 1.5, spanGaps: true,
          value: shown(trace.unit, 6),
        }))],
        axes: [timeAxis(colours), ...units.map((unit, at) => valueAxis(colours, SCALES[at],
          { side: at === 0 ? 3 : 1, label: unit || undefined, grid: at === 0 }))],
      };
    }

    onMounted(() => {
      plot = new uPlot(options(), columns(), container.value);
      resizeObserver = new ResizeObserver(() => plot.setSize(size()));
      resizeObserver.observe(container.value);
    });
    watch(() => [props.traces.map((trace) => trace.buckets), props.from, props.to], () => plot?.setData(columns()));
    onBeforeUnmount(() => {
      resizeObserver?.disconnect();
      plot?.destroy();
    });
    return { container, single, colourOf };
  },
  template: `
    <figure class="chart" :data-chart="traces[0].id" :data-events="traces.map((trace) => trace.id).join(' ')"
      :data-buckets="traces.reduce((sum, trace) => sum + trace.buckets.length, 0)" :data-from="from" :data-to="to">
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
        </ul>
      </figcaption>
      <div ref="container" class="plot"></div>
    </figure>`,
};
