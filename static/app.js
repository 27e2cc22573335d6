// The dashboard application: sign-in, then the live dashboard or the datapoints table (hash routes).
import { computed, createApp, ref } from "vue";
import { api } from "./api.js";
import { session, signOut } from "./session.js";
import DashboardView from "./views/DashboardView.js";
import DatapointsView from "./views/DatapointsView.js";
import LoginView from "./views/LoginView.js";

const ROUTES = { "#/": DashboardView, "#/datapoints": DatapointsView };

const App = {
  components: { LoginView },
  setup() {
    const route = ref(location.hash in ROUTES ? location.hash : "#/");
    window.addEventListener("hashchange", () => { route.value = location.hash in ROUTES ? location.hash : "#/"; });
    const view = computed(() => ROUTES[route.value]);

    async function logOut() {
      try {
        await api("POST", "/auth/logout");
      } finally {
        signOut();
      }
    }
    return { session, route, view, logOut };
  },
  template: `
    <LoginView v-if="!session.token" />
    <template v-else>
      <header class="top">
        <strong>WebMACS</strong>
        <nav>
          <a href="#/" :class="{ active: route === '#/' }">Dashboard</a>
          <a href="#/datapoints" :class="{ active: route === '#/datapoints' }">Datapoints</a>
        </nav>
        <span class="muted">{{ session.user?.email }} ({{ session.user?.role }})</span>
        <button class="link" @click="logOut">Sign out</button>
      </header>
      <component :is="view" :key="route" />
    </template>`,
};

createApp(App).mount("#app");
