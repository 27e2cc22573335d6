// A reactive "now" that ticks, so ages like "3 s ago" stay true without a datapoint arriving.
import { onScopeDispose, ref } from "vue";

export function useNow(intervalMs) {
  const now = ref(Date.now());
  const timer = setInterval(() => { now.value = Date.now(); }, intervalMs);
  onScopeDispose(() => clearInterval(timer));
  return now;
}
