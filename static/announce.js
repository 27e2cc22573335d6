// A polite live region's text for a view. What is said within a second is read as one announcement, so
// a burst of changes (a controller that stops takes all its events with it) is heard once, not per change.
import { onScopeDispose, ref } from "vue";

const GATHER_MS = 1000;

export function useAnnouncer() {
  const text = ref("");
  let pending = [];
  let timer = null;

  function announce(message) {
    pending.push(message);
    timer ??= setTimeout(() => {
      text.value = pending.join(" ");
      pending = [];
      timer = null;
    }, GATHER_MS);
  }

  onScopeDispose(() => clearTimeout(timer));
  return { text, announce };
}

/** "A", "A and B", "A, B and C". */
export function listOf(names) {
  return names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}
