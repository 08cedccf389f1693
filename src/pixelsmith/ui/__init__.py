"""``pixelsmith ui``: a local web app over the library (the optional ``ui`` extra, gradio).

The functions behind each tab are plain Python in their own modules and work without a
browser or gradio: ``catalog`` (which runs and packaged models there are, loaded once),
``runs_tab`` (config, curves, sample grids, evaluation records of a run folder),
``generate_tab`` (sample grids and interpolations, through ``generate/``), ``restore_tab``
(restore and inpaint an uploaded picture, through ``restore/`` and the model zoo),
``uploads`` (size limit and the one image reader). ``app`` is only the gradio layout.
"""

from __future__ import annotations

from pixelsmith.errors import PixelsmithError

MISSING = "the web app needs gradio: pip install 'pixelsmith[ui]'"


def require_gradio():
    """The gradio module, or a one-line error saying how to install the extra."""
    try:
        import gradio
    except ImportError:
        raise PixelsmithError(MISSING) from None
    return gradio
