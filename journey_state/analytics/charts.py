"""The one renderer of server-side chart images: matplotlib's object API, never pyplot.

pyplot keeps global state (the current figure, a backend chosen once per process), which
is unsafe in the console's request threads; a Figure created directly owns its canvas and
is freed with it. The browser's interactive charts (Chart.js) are drawn client-side.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Callable

from matplotlib.axes import Axes
from matplotlib.figure import Figure

REPORT_SIZE_IN = (6.4, 3.2)
REPORT_DPI = 96


def figure(width_in: float, height_in: float, dpi: int = 100) -> Figure:
    return Figure(figsize=(width_in, height_in), dpi=dpi)


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plot_png(draw: Callable[[Axes], None], size_in: tuple[float, float] = REPORT_SIZE_IN, dpi: int = REPORT_DPI) -> bytes:
    """Run `draw(ax)` on one axes of a fresh figure; the PNG."""
    fig = figure(*size_in, dpi=dpi)
    draw(fig.subplots())
    fig.tight_layout()
    return png_bytes(fig)


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, for pages that must load nothing from elsewhere."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
