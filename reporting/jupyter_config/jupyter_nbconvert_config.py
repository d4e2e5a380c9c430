# Installed into the environment's Jupyter configuration (etc/jupyter/) by the project's set-up:
# `jupyter nbconvert` gives this project's report (reporting/jupyter_export.py).
from reporting.jupyter_export import nbconvert_config

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)
c.merge(nbconvert_config())
