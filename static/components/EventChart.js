// One event's time series, drawn by uPlot; redrawn at most once per animation frame.
import { onBeforeUnmount, onMounted, ref, watch } from "vue";
import uPlot from "uplot";

export default {
  props: {
    eventId: { type: String, required: true },
    label: { type: String, required: true },
    unit: { type: String, default: "" },
    points: { type: Array, required: true },
  },
  setup(props) {
    const container = ref(null);
    let plot = null;
    let frame = null;
    let resizeObserver = null;

    const series = () => [props.points.map((point) => point.time / 1000), props.points.map((point) => point.value)];
    const size = () => ({ width: container.value.clientWidth, height: container.value.clientHeight });

    onMounted(() => {
      plot = new uPlot({
        ...size(),
        series: [{}, { label: props.unit ? `${props.label} (${props.unit})` : props.label, stroke: "#2563eb", width: 1.5 }],
        axes: [{}, { size: 60 }],
        legend: { show: false },
      }, series(), container.value);
      resizeObserver = new ResizeObserver(() => plot.setSize(size()));
      resizeObserver.observe(container.value);
    });
    watch(() => props.points, () => {
      if (plot && frame === null) {
        frame = requestAnimationFrame(() => {
          frame = null;
          plot.setData(series());
        });
      }
    });
    onBeforeUnmount(() => {
      if (frame !== null) cancelAnimationFrame(frame);
      resizeObserver?.disconnect();
      plot?.destroy();
    });
    return { container };
  },
  template: `
    <figure class="chart" :data-chart="eventId" :data-points="points.length">
      <figcaption>{{ label }}<span v-if="unit" class="muted"> ({{ unit }})</span></figcaption>
      <div ref="container" class="plot"></div>
    </figure>`,
};
