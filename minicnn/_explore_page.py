"""The explore page's assets (see :mod:`minicnn.explore`): ``explore_assets/page.html``,
``page.css`` and ``page.js`` inside the package, read with :mod:`importlib.resources` and
inlined into one self-contained file when the page is written.

The page is plain JavaScript and canvas, no library. Its data (one JSON script element) is
written by :func:`minicnn.explore.page_data`; a Content-Security-Policy forbids every
network request, so the page works the same from file:// and offline.
"""
import re
from importlib import resources

ASSETS = "explore_assets"
_SLOT = re.compile(r"\{\{(css|js|data)\}\}")


def asset(name):
    """The text of one asset file (``page.html``, ``page.css``, ``page.js``)."""
    return resources.files(__package__).joinpath(ASSETS, name).read_text(encoding="utf-8")


def render(payload):
    """The page: ``payload`` is the JSON text of the data (with no ``<`` left in it). The
    template's slots are filled in one pass, so no inserted text is read as a slot."""
    parts = {"css": asset("page.css"), "js": asset("page.js"), "data": payload}
    return _SLOT.sub(lambda m: parts[m.group(1)], asset("page.html"))
