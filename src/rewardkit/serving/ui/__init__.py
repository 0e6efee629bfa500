"""The /ui page: a playground and a live dashboard, as static files served by rewardkit itself (no
build step, no other host). The page reads data only through the server's own JSON API, with the
API key when one is set; the files themselves hold no data and are served without one."""

from rewardkit.serving.ui.pages import PAGE_PATHS, install_ui

__all__ = ["PAGE_PATHS", "install_ui"]
