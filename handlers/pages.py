"""The dashboard: its page, its generated env, and the browser files under `static/`."""

from __future__ import annotations

import jinja2
import tornado.web

from conf.rendering import render_frontend_env
from conf.settings import ROOT
from handlers.base import AppMixin

STATIC = ROOT / "static"
# Browsers resolve bare imports ("vue") through this map; the files are served from node_modules
# through the symlinks in static/vendor/, exactly as npm installed them: no bundler, no CDN.
IMPORT_MAP = {"imports": {
    "vue": "/static/vendor/vue/vue.esm-browser.prod.js",
    "uplot": "/static/vendor/uplot/uPlot.esm.js",
}}
PAGES = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates" / "pages"), autoescape=True,
                           undefined=jinja2.StrictUndefined)


class DashboardHandler(AppMixin, tornado.web.RequestHandler):
    """The single page: login, dashboard and datapoints are views inside it (see static/app.js)."""

    def get(self) -> None:
        self.set_header("Cache-Control", "no-cache")
        self.finish(PAGES.get_template("index.html").render(import_map=IMPORT_MAP))


class FrontendEnvHandler(AppMixin, tornado.web.RequestHandler):
    """`static/env.js` rendered per request, so its URLs are the ones this browser used."""

    def get(self) -> None:
        origin = self.config.public_url or f"{self.request.protocol}://{self.request.host}"
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")  # settings change with a restart, not a release
        self.finish(render_frontend_env(self.config, origin))


class StaticHandler(tornado.web.StaticFileHandler):
    def set_extra_headers(self, path: str) -> None:
        # Module imports carry no version in their URLs, so browsers must revalidate (ETag) each load.
        self.set_header("Cache-Control", "no-cache")


default_handlers = [
    (r"/", DashboardHandler),
    (r"/static/env\.js", FrontendEnvHandler),
    # static/vendor/ links into node_modules/; Tornado follows links only into directories named here.
    (r"/static/(.*)", StaticHandler, {"path": str(STATIC),
                                      "allowed_symlink_directory": [str(STATIC), str(ROOT / "node_modules")]}),
]
