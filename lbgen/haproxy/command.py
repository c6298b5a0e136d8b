"""How haproxy is run: the command lines that check a config and run it in the foreground.

The one command-line builder for haproxy: the local runner and the Docker runner
(:mod:`lbgen.runners`) both build their haproxy command lines here, through the functions every
engine's ``command`` module offers (:class:`lbgen.runners.base.CommandLine`).
"""

from __future__ import annotations

PROGRAM = "haproxy"
"""The binary."""

OFFICIAL_IMAGE = "haproxy:latest"
"""The image the Docker runner uses unless told otherwise."""

RELOAD_SIGNAL = "SIGUSR2"
"""What makes the master (``-W``, master-worker mode) load its config again."""

# The official image has the binary in /usr/local/sbin, Debian in /usr/sbin; an image's PATH may
# lack either, so extend it before exec-ing the engine ("$@" are the engine's arguments).
_CONTAINER_SCRIPT = 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; exec haproxy "$@"'


def check_arguments(config_path: str, *, strict: bool, folder: str, config_text: str) -> list[str]:
    """``-c [-dW] -f CFG``: check ``config_path``; ``strict`` makes warnings fatal (``-dW``).

    ``folder`` and ``config_text`` are not needed: haproxy writes nothing while checking.
    """
    return ["-c", *(["-dW"] if strict else []), "-f", config_path]


def run_arguments(config_text: str, folder: str, config_path: str) -> list[str]:
    """``-W -db -f CFG``: master-worker, so SIGUSR2 reloads; ``-db`` stays in the foreground."""
    return ["-W", "-db", "-f", config_path]


def accepted(status: int, output: str, *, strict: bool) -> bool:
    """The verdict of a check: exit status 0 (``-dW`` already makes warnings fatal)."""
    return status == 0


def check_wrapper(
    config_text: str, config_path: str, folder: str, *, module_line: str | None
) -> str | None:
    """None: haproxy checks every config as it is, no wrapper needed."""
    return None


def running_config(config_text: str, folder: str, *, stream_module: str | None) -> str:
    """The config a running haproxy gets: the text itself."""
    return config_text


def needs_stream_module(config_text: str, output: str) -> bool:
    """False: haproxy has no modules to load."""
    return False


def stream_module_for(binary: str) -> str | None:
    """None: haproxy has no modules to load."""
    return None


def check_fallback(config_text: str, *, include_folder: str | None = None) -> str | None:
    """None: a check's verdict is final."""
    return None


def container_script(folder: str) -> str:
    """The ``sh -c`` script that runs haproxy with ``"$@"`` in an image (official or Debian)."""
    return _CONTAINER_SCRIPT
