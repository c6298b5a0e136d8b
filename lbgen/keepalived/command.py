"""How keepalived is run: the command lines that check a config and run it in the foreground.

The one command-line builder for keepalived, through the functions every engine's ``command``
module offers (:class:`lbgen.runners.base.CommandLine`). ``keepalived -t -f FILE`` parses the
whole config, runs keepalived's own checks (script security included) and exits non-zero on an
error (keepalived 2.0.5 and later; 2.2.7 exits 5 for every error it finds).

Three facts of ``keepalived -t`` shape the check:

- an ``include`` that names no file is reported ("Config files missing") and skipped, and the
  check still exits 0, as keepalived runs without the file: the check adds ``-e`` (keepalived's
  own "error if any configuration file missing"), so that a missing file, or a pattern that
  matches none, fails it. keepalived reads a relative include against the folder of the file
  that names it;

- it checks the config *for this machine*: an ``interface`` that does not exist here is an
  error, so a node's config is best checked on that node (or where its interface exists);
- keepalived 2.2.7 (Debian 12) kills itself with SIGTERM during ``-t`` when scripts run as a
  non-root user (``script_user``): keepalived issue #2587, fixed in 2.2.8. The config is
  checked as written first; only when that check is killed by SIGTERM does the runner check a
  copy whose global ``script_user`` line names root instead (same lines, so the messages keep
  their line numbers). Not always the copy: keepalived 2.3 (Debian 13) judges a root script
  under the ``/bin`` symlink of a merged-/usr system insecure and refuses the copy of a config
  it accepts as written. Whether the script user exists is the node's business (``nobody``,
  which lbgen renders, exists on every Linux).
"""

from __future__ import annotations

import re

PROGRAM = "keepalived"
"""The binary."""

OFFICIAL_IMAGE = ""
"""None: keepalived has no official image. The Docker runner takes ``--image`` or
``LBGEN_KEEPALIVED_IMAGE`` (e.g. the project's ``lbgen-engine:bookworm``, which carries
keepalived) and otherwise says so in one line instead of pulling an image without keepalived."""

RELOAD_SIGNAL = "SIGHUP"
"""What makes keepalived read its config again."""

_PATH = 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"'
#: The file (in the check folder) holding the fallback copy: the runners write it under the
#: name of their wrapper file, whose paths they already map back to the user's file name.
_FALLBACK = "lbgen-wrapper.conf"
#: A global ``script_user NAME [GROUP]`` line naming someone else than root.
_SCRIPT_USER = re.compile(r"^([ \t]*script_user[ \t]+)(?!root(?:[ \t]|$))\S+(?:[ \t]+\S+)?", re.M)
#: An ``include`` line whose path is relative (keepalived takes the path as written, quotes
#: included).
_RELATIVE_INCLUDE = re.compile(r"^([ \t]*include[ \t]+)(?!/)(?=\S)", re.M)


def check_arguments(config_path: str, *, strict: bool, folder: str, config_text: str) -> list[str]:
    """``-t -e -f CFG``: parse and check the config, run nothing, and fail when an included file
    is missing (``-e``; ``-l``: messages to stderr)."""
    return ["-t", "-e", "-l", "-f", config_path]


def run_arguments(config_text: str, folder: str, config_path: str) -> list[str]:
    """``-n -l -D -P -f CFG``: foreground, log to the console, VRRP only, pid files in
    ``folder`` (so that it does not collide with a keepalived of the host)."""
    return [
        "-n", "-l", "-D", "-P", "-f", config_path,
        "-p", f"{folder}/keepalived.pid", "-r", f"{folder}/vrrp.pid",
    ]  # fmt: skip


def accepted(status: int, output: str, *, strict: bool) -> bool:
    """The verdict: exit status 0; ``strict`` also refuses keepalived's ``WARNING`` lines."""
    return status == 0 and not (strict and re.search(r"\bWARNING\b", output))


def check_wrapper(
    config_text: str, config_path: str, folder: str, *, module_line: str | None
) -> str | None:
    """None: the config is checked exactly as written (see :func:`check_fallback`)."""
    return None


def check_fallback(config_text: str, *, include_folder: str | None = None) -> str | None:
    """The config with a non-root ``script_user`` read as root, to check when the check as
    written is killed by SIGTERM (keepalived 2.2.7, see the module docstring); None when it
    names no other script user.

    ``include_folder``: the folder of the original file; the copy's relative ``include`` paths
    are prefixed with it, so that they name the same files from the check folder."""
    if not _SCRIPT_USER.search(config_text):
        return None
    copy = _SCRIPT_USER.sub(lambda m: m.group(1) + "root", config_text)
    if include_folder is not None:
        prefix = include_folder.rstrip("/") + "/"
        copy = _RELATIVE_INCLUDE.sub(lambda m: m.group(1) + prefix, copy)
    return copy


def running_config(config_text: str, folder: str, *, stream_module: str | None) -> str:
    """The config a running keepalived gets: the text itself."""
    return config_text


def needs_stream_module(config_text: str, output: str) -> bool:
    """False: keepalived has no modules to load."""
    return False


def stream_module_for(binary: str) -> str | None:
    """None: keepalived has no modules to load."""
    return None


def container_script(folder: str) -> str:
    """The ``sh -c`` script that runs keepalived with ``"$@"`` in an image; a check (``-t``)
    killed by SIGTERM is run again on the fallback copy when the folder holds one, and only
    the last run's output is shown."""
    fallback = f"{folder}/{_FALLBACK}"
    first = f"{folder}/first-check.log"
    return (
        f'{_PATH}; if [ "$1" != -t ]; then exec keepalived "$@"; fi; '
        f'keepalived "$@" >{first} 2>&1; s=$?; '
        f'if [ "$s" -eq 143 ] && [ -f {fallback} ]; then exec keepalived -t -l -f {fallback}; fi; '
        f'cat {first}; exit "$s"'
    )
