"""Selenium ``Service`` s that start the driver we chose, in its own session (every browser, PhantomJS too)."""
from __future__ import annotations

import functools
import subprocess
from typing import Any, Optional


class PrivateService:
    """Mixin for a Selenium ``Service``: the driver we found, in its own session, its output discarded
    unless ``log_output`` says where (:func:`xfinity_usage.browsers.open_browser` gives the run's ``driver.log``).

    Selenium would take the driver from ``SE_CHROMEDRIVER`` / ``SE_GECKODRIVER``
    (``env_path``); we chose it, so those are ignored. The new session lets
    :class:`~xfinity_usage.browsers.procs.ProcessTree` find what the driver started even
    after it was re-parented. Put it first: ``class S(PrivateService, Service)``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("log_output", subprocess.DEVNULL)
        kwargs["popen_kw"] = {**(kwargs.get("popen_kw") or {}), "start_new_session": True}
        super().__init__(*args, **kwargs)  # the Service after us in the MRO

    def env_path(self) -> Optional[str]:
        return None


@functools.lru_cache(maxsize=None)
def private_service(service_class: type) -> type:
    """``service_class`` (a Selenium ``Service``) with :class:`PrivateService` mixed in."""
    return type(f"Private{service_class.__module__.split('.')[-2].capitalize()}Service",
                (PrivateService, service_class), {"__module__": __name__})
