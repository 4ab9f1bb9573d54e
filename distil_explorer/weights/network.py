"""How long a hub may take to answer, and what its silence or refusal means.

Neither hub client bounds how long it waits for a network that swallows
packets (kagglesdk sends its requests with no timeout at all; huggingface_hub's
connect, proxy-tunnel and read timeouts add up to 6 s and more), so `hub`
asks `probe` first: the call runs with a wall-clock bound of `network_timeout()`
seconds. Also here: the tqdm class that forwards huggingface_hub's download
bytes to a `progress` callable instead of drawing a bar.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

Progress = Callable[[str, int, int], None]

# Seconds a hub's API may take to answer a probe before it counts as
# unreachable; the clients' own waits are unbounded (kagglesdk) or add up to
# 6 s and more (huggingface_hub's connect + proxy tunnel + read timeouts).
NETWORK_TIMEOUT_S = 2.0
NETWORK_TIMEOUT_ENV = "DISTIL_EXPLORER_NETWORK_TIMEOUT"


def network_timeout() -> float:
    """Seconds each hub gets to answer before it counts as unreachable.

    `$DISTIL_EXPLORER_NETWORK_TIMEOUT` overrides the default of 2 s (for a
    slow but working link).

    Examples:

    >>> network_timeout() > 0
    True
    """
    text = os.environ.get(NETWORK_TIMEOUT_ENV, "")
    if not text:
        return NETWORK_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(
            f"{NETWORK_TIMEOUT_ENV}={text!r}: not a number of seconds; "
            "allowed: a positive number such as 2 or 10"
        )
    return seconds


def probe(hub: str, call: Callable[[float], Any]) -> BaseException | None:
    """Run `call(timeout)` with a wall-clock bound; the error it raised, or None.

    The call runs in a daemon thread: a client stuck on a socket that never
    answers is left behind (its own timeout ends it soon after) instead of
    blocking the person. No answer in time is reported as a TimeoutError.

    Examples:

    >>> probe("Kaggle", lambda timeout: None) is None
    True
    >>> probe("Kaggle", lambda timeout: 1 / 0)
    ZeroDivisionError('division by zero')
    """
    timeout = network_timeout()
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call(timeout)
            outcome.append(None)
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            outcome.append(err)

    worker = threading.Thread(target=target, name=f"probe {hub}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return TimeoutError(f"{hub} did not answer within {timeout:g} s")
    return outcome[0]


def reason(err: BaseException) -> str:
    """What a network error means, in words.

    Examples:

    >>> reason(ConnectionError("Failed to resolve 'api.kaggle.com'"))
    'its host name does not resolve'
    """
    text = f"{type(err).__name__} {err}".lower()
    if "timeout" in text or "timed out" in text:
        return f"no answer within {network_timeout():g} s"
    if "resolve" in text or "name or service not known" in text:
        return "its host name does not resolve"
    if "proxy" in text:
        return "the proxy in HTTPS_PROXY did not connect"
    if "refused" in text:
        return "the connection was refused"
    return short(err)


def short(err: BaseException) -> str:
    """The error's type and the first line of its message.

    Examples:

    >>> short(OSError("no route\\nmore"))
    'OSError: no route'
    """
    first = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def say(progress: Progress | None, step: str) -> None:
    """Tell `progress` (if any) of a step that cannot be measured: 0 of 1.

    Examples:

    >>> say(print, "reaching Kaggle")
    reaching Kaggle 0 1
    """
    if progress is not None:
        progress(step, 0, 1)


def forwarding_tqdm(progress: Progress, step: str) -> type:
    """A tqdm class that draws nothing and tells `progress` the bytes so far.

    huggingface_hub makes every bar of a snapshot from the class it is given;
    only its "Downloading bytes" bar (bytes off the network) is forwarded.

    Examples:

    >>> bar = forwarding_tqdm(print, "downloading")(desc="Downloading bytes", unit="B")
    >>> bar.total = 10
    >>> bar.update(4)
    downloading 4 10
    """
    from tqdm.auto import tqdm

    class Forwarding(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._forward = kwargs.get("unit") == "B" and str(
                kwargs.get("desc", "")
            ).startswith("Downloading")
            super().__init__(*args, **{**kwargs, "disable": True})

        def update(self, n: float | None = 1) -> bool | None:
            self.n += n or 0
            if self._forward:
                progress(step, int(self.n), max(int(self.total or 0), int(self.n), 1))
            return None

    return Forwarding
