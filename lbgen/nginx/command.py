"""How nginx is run: check flags, the run command line, and the config around a stream file.

The one command-line builder for nginx: the local runner and the Docker runner
(:mod:`lbgen.runners`) both build their nginx command lines here, through the functions every
engine's ``command`` module offers (:class:`lbgen.runners.base.CommandLine`). lbgen writes three
nginx layouts (``full``, ``stream``, ``upstreams``); only a full config is a complete nginx.conf,
so a check *includes* a stream/upstreams file from a small wrapper (the engine then reports the
user's own line numbers) and a running nginx gets the file wrapped into a complete config. Debian
builds the stream module as a dynamic module that a config must load itself.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

PROGRAM = "nginx"
"""The binary."""

OFFICIAL_IMAGE = "nginx:latest"
"""The image the Docker runner uses unless told otherwise (stream is built in)."""

RELOAD_SIGNAL = "SIGHUP"
"""What makes the master load its config again."""

DEBIAN_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
"""Where Debian's libnginx-mod-stream puts the dynamic stream module."""

#: A config that loads the stream module itself needs no help (loading it twice is an error).
LOADS_STREAM_MODULE = re.compile(r"^\s*load_module\s+\S*ngx_stream_module\.so", re.M)

MODULES_FILE = "modules.conf"
"""In an image: the file :func:`container_script` fills with the ``load_module`` line (or
nothing) that this image's nginx needs."""

_TOP_LEVEL_BLOCK = re.compile(r"^\s*(events|stream|http)\s*\{", re.M)
_PID = re.compile(r"^\s*pid\s", re.M)
_DAEMON = re.compile(r"^\s*daemon\s", re.M)


def layout_of(text: str) -> str:
    """Guess the layout of an nginx text: ``full``, ``stream`` or ``upstreams``."""
    blocks = set(_TOP_LEVEL_BLOCK.findall(text))
    if "events" in blocks:
        return "full"
    if "stream" in blocks:
        return "stream"
    return "upstreams"


def check_flags(strict: bool) -> list[str]:
    """``nginx -t`` flags: quiet unless ``strict``, which needs the warnings to judge them."""
    return ["-t"] if strict else ["-t", "-q"]


def check_arguments(config_path: str, *, strict: bool, folder: str, config_text: str) -> list[str]:
    """``-t [-q] [-p DIR/] -c CFG [-g 'pid DIR/nginx.pid;']``: check ``config_path``.

    A full config keeps nginx's own prefix, so that its relative paths mean what they mean to
    ``nginx -t -c`` on that machine: Debian's stock nginx.conf loads the stream module as
    ``modules/ngx_stream_module.so`` (through modules-enabled/), under the prefix
    ``/usr/share/nginx``. lbgen's wrapper of a stream/upstreams file runs from ``folder``. The
    pid file goes into ``folder`` unless the config (``config_text``) names its own.
    """
    prefix = [] if layout_of(config_text) == "full" else ["-p", f"{folder}/"]
    args = [*check_flags(strict), *prefix, "-c", config_path]
    if not _PID.search(config_text):
        args += ["-g", f"pid {folder}/nginx.pid;"]
    return args


def run_arguments(config_text: str, folder: str, config_path: str) -> list[str]:
    """``-p DIR/ -c CFG -g 'pid DIR/nginx.pid; daemon off;'``: run in the foreground (SIGHUP
    reloads), each ``-g`` setting only when the config does not set it itself."""
    extra = []
    if not _PID.search(config_text):
        extra.append(f"pid {folder}/nginx.pid;")
    if not _DAEMON.search(config_text):
        extra.append("daemon off;")
    args = ["-p", f"{folder}/", "-c", config_path]
    if extra:
        args += ["-g", " ".join(extra)]
    return args


def accepted(status: int, output: str, *, strict: bool) -> bool:
    """The verdict of a check: exit status 0, and under ``strict`` no ``[warn]`` either (nginx
    has no switch that makes warnings fatal)."""
    return status == 0 and not (strict and "[warn]" in output)


def check_wrapper(
    config_text: str, config_path: str, folder: str, *, module_line: str | None
) -> str | None:
    """The complete nginx.conf that includes a stream/upstreams file ``config_path`` for a check,
    or None for a full config (checked exactly as written).

    ``module_line`` (e.g. ``load_module PATH;``) heads the wrapper when the file does not load
    the stream module itself.
    """
    layout = layout_of(config_text)
    if layout == "full":
        return None
    lines = []
    if module_line and not LOADS_STREAM_MODULE.search(config_text):
        lines.append(module_line)
    lines.append(f"error_log {folder}/error.log;")
    # A stream file may load its module itself: that has to come before events {}.
    if layout == "stream":
        lines.append(f"include {config_path};")
    else:
        lines.append(f"stream {{ include {config_path}; }}")
    lines.append("events {}")
    return "\n".join(lines) + "\n"


def running_config(config_text: str, folder: str, *, stream_module: str | None) -> str:
    """Turn any lbgen nginx layout into a complete nginx.conf that a *running* nginx can use.

    A ``stream`` or ``upstreams`` layout is wrapped into ``events {}`` + ``stream {}``; the
    stream module is loaded when the engine needs it and the text does not load it already
    (also for a full config: the integration tests and the demo run every layout). Checks do
    not use this: they judge the exact bytes, see :func:`check_wrapper`.
    """
    layout = layout_of(config_text)
    head = []
    if stream_module and not LOADS_STREAM_MODULE.search(config_text):
        head.append(f"load_module {stream_module};")
    if layout == "full":
        body = config_text
    else:
        head.append(f"error_log {folder}/error.log;")
        head.append("events {}")
        body = config_text if layout == "stream" else "stream {\n" + config_text + "\n}\n"
    return "\n".join(head) + ("\n" if head else "") + body


def needs_stream_module(config_text: str, output: str) -> bool:
    """True when a full config was rejected for want of the stream module (``output``: what
    the check printed)."""
    return (
        'unknown directive "stream"' in output
        and layout_of(config_text) == "full"
        and not LOADS_STREAM_MODULE.search(config_text)
    )


def builds_stream_dynamically(binary: str, *, timeout: float = 60) -> bool:
    """True when the nginx at ``binary`` has the stream module as a dynamic module (Debian)."""
    try:
        out = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=timeout)
    except OSError:
        return False
    info = out.stdout + out.stderr
    return "--with-stream=dynamic" in info or "--with-stream" not in info


def stream_module_for(binary: str) -> str | None:
    """The ``load_module`` path a full config needs on the nginx at ``binary``, or None (stream
    built in, or no module file where Debian puts it)."""
    if builds_stream_dynamically(binary) and Path(DEBIAN_STREAM_MODULE).exists():
        return DEBIAN_STREAM_MODULE
    return None


def check_fallback(config_text: str, *, include_folder: str | None = None) -> str | None:
    """None: a check's verdict is final."""
    return None


def container_script(folder: str) -> str:
    """The ``sh -c`` script that runs nginx with ``"$@"`` in an image.

    Official builds have stream compiled in (``--with-stream``), Debian's load it dynamically
    (``--with-stream=dynamic``). A config run in an image includes ``folder/``
    :data:`MODULES_FILE`, which the script writes with the ``load_module`` line only when this
    nginx needs it and the module file exists.
    """
    return f"""PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
d={folder}
: > "$d/{MODULES_FILE}"
if ! nginx -V 2>&1 | grep -qE -- '--with-stream( |$)'; then
  for m in /usr/lib/nginx/modules/ngx_stream_module.so \\
           /usr/lib64/nginx/modules/ngx_stream_module.so \\
           /usr/share/nginx/modules/ngx_stream_module.so \\
           /etc/nginx/modules/ngx_stream_module.so; do
    if [ -f "$m" ]; then echo "load_module $m;" > "$d/{MODULES_FILE}"; break; fi
  done
fi
exec nginx "$@"
"""
