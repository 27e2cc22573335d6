// Light or dark: the system's choice unless this browser was told otherwise (kept per browser: a wall
// display and a phone in the same hands may want different ones). The colours live in dashboard.css;
// `<html data-theme>` overrides `prefers-color-scheme`. `colourScheme` is what shows, for the charts,
// which draw on canvas and so read their colours when they are made.
import { ref } from "vue";

const STORAGE_KEY = "webmacs.theme";
const CHOICES = [
  { key: "system", label: "System" },
  { key: "light", label: "Light" },
  { key: "dark", label: "Dark" },
];
const systemDark = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;

function saved() {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return CHOICES.some((choice) => choice.key === value) ? value : "system";
  } catch {
    return "system";
  }
}

export const themeChoice = ref(saved());
export const colourScheme = ref("light");

function apply() {
  const choice = themeChoice.value;
  colourScheme.value = choice === "system" ? (systemDark?.matches ? "dark" : "light") : choice;
  if (typeof document === "undefined") return;
  if (choice === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = choice;
}
systemDark?.addEventListener("change", apply);
apply();

export function chooseTheme(choice) {
  themeChoice.value = choice;
  try {
    if (choice === "system") localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, choice);
  } catch {
    // storage refused (a private window): the choice lasts for this page
  }
  apply();
}

export default {
  setup() {
    return { CHOICES, themeChoice, chooseTheme };
  },
  template: `
    <div class="theme-toggle" role="group" aria-label="Colour theme">
      <button v-for="choice in CHOICES" :key="choice.key" type="button" class="toggle"
        :aria-pressed="themeChoice === choice.key ? 'true' : 'false'" @click="chooseTheme(choice.key)">{{ choice.label }}</button>
    </div>`,
};
