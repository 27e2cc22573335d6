// A view that shows what the server says now: loaded when it mounts and again every few seconds after
// each load ends, until it unmounts.
import { onBeforeUnmount, onMounted } from "vue";

/** Call `load` on mount and `intervalMs` after each load ends; returns a function telling whether the view
 * is gone (an answer that arrives after that is dropped). */
export function useRefreshing(load, intervalMs) {
  let timer = null;
  let gone = false;
  async function again() {
    await load();
    if (!gone) timer = setTimeout(again, intervalMs);
  }
  onMounted(again);
  onBeforeUnmount(() => {
    gone = true;
    clearTimeout(timer);
  });
  return () => gone;
}
