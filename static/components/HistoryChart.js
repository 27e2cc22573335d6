// One event's history from /datapoints/series: the min-max band of each bucket and its average.
// Dragging across it zooms in (the parent fetches that span at a finer resolution); hovering shows the values.
import { onBeforeUnmount, onMounted, ref, watch } from "vue";
import uPlot from "uplot";

export default {
  props: {
    eventId: { type: String, required: true },
    label: { type: String, required: true },
    unit: { type: String, default: "" },
    buckets: { type: Array, required: true },  // [{t, min, max, avg, last, count}]
    from: { type: Number, required: true },  // ms
    to: { type: Number, required: true },
  },
  emits: ["zoom"],
  setup(props, { emit }) {
    const container = ref(null);
    let plot = null;
    let resizeObserver = null;

    // Typed arrays: a month at 2,000 buckets is drawn from 5 columns, not 10,000 objects.
    function columns() {
      const count = props.buckets.length;
      const time = new Float64Array(count), low = new Float64Array(count), high = new Float64Array(count),
        mean = new Float64Array(count);
      props.buckets.forEach((bucket, at) => {
        time[at] = Date.parse(bucket.t) / 1000;
        low[at] = bucket.min;
        high[at] = bucket.max;
        mean[at] = bucket.avg;
      });
      return [time, high, low, mean];
    }
    // The legend (the values under the cursor) sits below the plot, inside the same box.
    const LEGEND_HEIGHT = 32;
    const size = () => ({ width: container.value.clientWidth, height: container.value.clientHeight - LEGEND_HEIGHT });
    const unit = props.unit ? ` ${props.unit}` : "";

    onMounted(() => {
      plot = new uPlot({
        ...size(),
        scales: { x: { time: true, range: () => [props.from / 1000, props.to / 1000] } },
        series: [
          {},
          { label: "max", stroke: "rgba(37, 99, 235, 0.35)", value: (u, v) => (v == null ? "–" : `${v}${unit}`) },
          { label: "min", stroke: "rgba(37, 99, 235, 0.35)", value: (u, v) => (v == null ? "–" : `${v}${unit}`) },
          { label: "avg", stroke: "#2563eb", width: 1.5,
            value: (u, v) => (v == null ? "–" : `${Number(v.toPrecision(6))}${unit}`) },
        ],
        bands: [{ series: [1, 2], fill: "rgba(37, 99, 235, 0.15)" }],
        axes: [{}, { size: 60 }],
        cursor: { drag: { x: true, y: false } },
        hooks: {
          setSelect: [(u) => {
            if (u.select.width < 2) return;
            const from = u.posToVal(u.select.left, "x") * 1000, to = u.posToVal(u.select.left + u.select.width, "x") * 1000;
            u.setSelect({ left: 0, width: 0 }, false);
            emit("zoom", { from: Math.round(from), to: Math.round(to) });
          }],
        },
      }, columns(), container.value);
      resizeObserver = new ResizeObserver(() => plot.setSize(size()));
      resizeObserver.observe(container.value);
    });
    watch(() => [props.buckets, props.from, props.to], () => plot?.setData(columns()));
    onBeforeUnmount(() => {
      resizeObserver?.disconnect();
      plot?.destroy();
    });
    return { container };
  },
  template: `
    <figure class="chart" :data-chart="eventId" :data-buckets="buckets.length" :data-from="from" :data-to="to">
      <figcaption>{{ label }}<span v-if="unit" class="muted"> ({{ unit }})</span></figcaption>
      <div ref="container" class="plot"></div>
    </figure>`,
};
