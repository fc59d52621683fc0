"""journey_state/analytics/charts.py: server-side chart images without pyplot's global state."""
from __future__ import annotations

import base64
import io

from matplotlib._pylab_helpers import Gcf
from PIL import Image

from journey_state.analytics.charts import data_uri, figure, plot_png, png_bytes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_png_draws_on_its_own_figure():
    before = Gcf.get_num_fig_managers()
    png = plot_png(lambda ax: ax.bar(["a", "b"], [1, 2]))
    assert png.startswith(PNG_MAGIC)
    assert Image.open(io.BytesIO(png)).size == (614, 307)  # 6.4 x 3.2 in at 96 dpi
    assert Gcf.get_num_fig_managers() == before  # pyplot never saw it


def test_figure_and_data_uri():
    fig = figure(2, 1, dpi=50)
    fig.text(0.5, 0.5, "$5 off", parse_math=False)
    png = png_bytes(fig)
    assert Image.open(io.BytesIO(png)).size == (100, 50)
    uri = data_uri(png)
    assert uri.startswith("data:image/png;base64,") and base64.b64decode(uri.split(",", 1)[1]) == png
