"""Engine images for the integration tests, built from Debian when no registry can provide them.

Which images run the tests comes from ``LBGEN_HAPROXY_IMAGES`` / ``LBGEN_NGINX_IMAGES`` (comma
separated). Unset, both default to our own ``lbgen-engine:bookworm`` and ``lbgen-engine:trixie``:
one image per Debian release carrying haproxy, nginx and nginx's stream module, keepalived and
nftables. An image that is
missing is pulled when it is not one of ours; one of ours is built with ``debootstrap
--variant=minbase`` and ``docker import``. The root filesystem tarball is cached under
``~/.cache/lbgen/rootfs/`` so a second build (say, after the Docker data was wiped) skips
debootstrap. The Debian mirror is read from this machine's apt configuration at run time.

Build ahead of a test run with ``python -m tests.integration.images`` (from the repo top).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dockerd import CACHE_DIR

OUR_REPOSITORY = "lbgen-engine"
DEFAULT_SUITES = ("bookworm", "trixie")
#: What each engine image carries; the stream module is a separate package in Debian. python3
#: runs the fake API servers of the compose demo (so its test needs no other image). keepalived
#: (no official image exists) makes ``lbgen check --engine keepalived --runner docker`` work with
#: ours; nftables loads the VIP tier's rules in a container.
PACKAGES = ("haproxy", "nginx", "libnginx-mod-stream", "python3", "keepalived", "nftables")
#: Changes whenever PACKAGES does: an image of ours with another key is stale and rebuilt.
PACKAGES_KEY = hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:8]
PACKAGES_LABEL = "org.lbgen.packages"
ROOTFS_DIR = CACHE_DIR / "rootfs"
DEBOOTSTRAP_TIMEOUT_SECONDS = 1200


class ImageUnavailable(Exception):
    """An engine image can neither be found, pulled nor built (the message says why)."""


@dataclass(frozen=True)
class EngineBuild:
    """One engine in one image, e.g. haproxy in ``lbgen-engine:trixie``."""

    engine: str
    image: str

    @property
    def id(self) -> str:
        """Short test id: ``haproxy-trixie``, ``nginx-nginx_1.27``."""
        tag = self.image.rsplit("/", 1)[-1]
        if tag.startswith(f"{OUR_REPOSITORY}:"):
            tag = tag.split(":", 1)[1]
        return f"{self.engine}-{tag.replace(':', '_')}"


def our_image(suite: str) -> str:
    """Name of the image we build for a Debian suite."""
    return f"{OUR_REPOSITORY}:{suite}"


def suite_of(image: str) -> str | None:
    """The Debian suite when ``image`` is one we build, else None."""
    match = re.fullmatch(rf"{OUR_REPOSITORY}:([a-z]+)", image)
    return match.group(1) if match else None


def configured_builds() -> list[EngineBuild]:
    """The engine builds to test, from the environment or our two Debian images."""
    default = ",".join(our_image(suite) for suite in DEFAULT_SUITES)
    builds: list[EngineBuild] = []
    for engine in ("haproxy", "nginx"):
        raw = os.environ.get(f"LBGEN_{engine.upper()}_IMAGES", "").strip() or default
        for image in (part.strip() for part in raw.split(",")):
            if image:
                builds.append(EngineBuild(engine=engine, image=image))
    return builds


# --- the Debian mirror ------------------------------------------------------------------------


def debian_mirror() -> str:
    """The Debian archive URI this machine's apt uses (``LBGEN_DEBIAN_MIRROR`` overrides it)."""
    override = os.environ.get("LBGEN_DEBIAN_MIRROR", "").strip()
    if override:
        return override
    candidates: list[str] = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        candidates += _uris_from_deb822(path.read_text(encoding="utf-8", errors="replace"))
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if path.exists():
            candidates += _uris_from_one_line(path.read_text(encoding="utf-8", errors="replace"))
    for uri in candidates:
        if uri.startswith(("http://", "https://")):
            return uri.rstrip("/")
    raise ImageUnavailable(
        "cannot find a Debian mirror in /etc/apt (sources.list or *.sources); "
        "set LBGEN_DEBIAN_MIRROR to one"
    )


def _uris_from_deb822(text: str) -> list[str]:
    """URIs of deb822 stanzas that serve the main archive (not the security archive)."""
    uris: list[str] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        suites = fields.get("suites", "").split()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        if suites and all(s.endswith("-security") for s in suites):
            continue
        uris += fields.get("uris", "").split()
    return uris


def _uris_from_one_line(text: str) -> list[str]:
    """URIs of ``deb [opts] URI suite ...`` lines that are not the security archive."""
    uris: list[str] = []
    for line in text.splitlines():
        parts = re.sub(r"\[[^]]*\]", "", line).split()
        if len(parts) >= 3 and parts[0] == "deb" and not parts[2].endswith("-security"):
            uris.append(parts[1])
    return uris


# --- building ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """Serialise builds of one suite across processes (two pytest runs at once)."""
    ROOTFS_DIR.mkdir(parents=True, exist_ok=True)
    with (ROOTFS_DIR / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def rootfs_tarball_path(suite: str) -> Path:
    """Cache path of a suite's root filesystem; the name changes when the package list does."""
    return ROOTFS_DIR / f"{suite}-{platform.machine()}-{PACKAGES_KEY}.tar"


def _debootstrap_script(suite: str) -> list[str]:
    """An explicit script argument when this debootstrap does not know the suite (use sid's)."""
    scripts = Path(os.environ.get("DEBOOTSTRAP_DIR", "/usr/share/debootstrap")) / "scripts"
    if (scripts / suite).exists():
        return []
    if (scripts / "sid").exists():
        return [str(scripts / "sid")]
    raise ImageUnavailable(f"debootstrap knows neither {suite} nor sid; upgrade debootstrap")


def build_rootfs(suite: str, log: Any = None) -> Path:
    """Debootstrap ``suite`` with the engines and pack it as a tarball (cached)."""
    tarball = rootfs_tarball_path(suite)
    if tarball.exists():
        return tarball
    if os.geteuid() != 0:
        raise ImageUnavailable(f"building the {suite} image needs root (debootstrap)")
    debootstrap = shutil.which("debootstrap", path=os.environ.get("PATH", "") + ":/usr/sbin")
    if debootstrap is None:
        raise ImageUnavailable("debootstrap is not installed (apt-get install debootstrap)")
    mirror = debian_mirror()
    debs = CACHE_DIR / "debs" / suite
    debs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"lbgen-{suite}-", dir=ROOTFS_DIR) as work:
        target = Path(work) / "root"
        command = [
            debootstrap,
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            f"--cache-dir={debs}",
            suite,
            str(target),
            mirror,
            *_debootstrap_script(suite),
        ]
        logfile = Path(work) / "debootstrap.log"
        with logfile.open("wb") as out:
            proc = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT_SECONDS
            )
        if proc.returncode != 0:
            tail = logfile.read_text(errors="replace").splitlines()[-15:]
            raise ImageUnavailable(
                f"debootstrap {suite} failed (exit {proc.returncode}):\n" + "\n".join(tail)
            )
        # Keep the image small: package caches and docs are never used by the engines.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                     "usr/share/man", "usr/share/locale", "usr/share/info"):  # fmt: skip
            shutil.rmtree(target / junk, ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            ["tar", "-C", str(target), "--numeric-owner", "--exclude=./dev/*",
             "--exclude=./proc/*", "--exclude=./sys/*", "-cf", str(partial), "."],
            check=True,
        )  # fmt: skip
        partial.rename(tarball)
    for stale in ROOTFS_DIR.glob(f"{suite}-{platform.machine()}-*.tar"):
        if stale != tarball:  # built for another package list: never used again
            stale.unlink()
    return tarball


def image_exists(client: Any, image: str) -> bool:
    """True when the Docker engine has ``image`` locally (for ours: built with PACKAGES)."""
    import docker.errors

    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    if suite_of(image) is None:
        return True
    labels = (found.attrs.get("Config") or {}).get("Labels") or {}
    return bool(labels.get(PACKAGES_LABEL) == PACKAGES_KEY)


def import_rootfs(client: Any, tarball: Path, image: str) -> None:
    """``docker import`` a root filesystem tarball as ``image``."""
    repository, tag = image.rsplit(":", 1)
    client.api.import_image_from_file(
        str(tarball),
        repository=repository,
        tag=tag,
        changes=[
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            'CMD ["/bin/sh"]',
            f"LABEL org.lbgen.suite={image.rsplit(':', 1)[1]} {PACKAGES_LABEL}={PACKAGES_KEY}",
        ],
    )
    if not image_exists(client, image):
        raise ImageUnavailable(f"docker import of {tarball} did not produce {image}")


def ensure_image(client: Any, image: str) -> float:
    """Make ``image`` available: present, pulled, or built from Debian. Returns seconds spent."""
    started = time.monotonic()
    if image_exists(client, image):
        return 0.0
    suite = suite_of(image)
    if suite is None:
        try:
            client.images.pull(image)
        except Exception as exc:
            raise ImageUnavailable(
                f"image {image} is not present and cannot be pulled ({exc}); only "
                f"{OUR_REPOSITORY}:<debian-suite> images can be built here"
            ) from exc
        return time.monotonic() - started
    with _locked(suite):
        if not image_exists(client, image):
            stale = _image_id(client, image)
            import_rootfs(client, build_rootfs(suite), image)
            if stale and stale != _image_id(client, image):
                with contextlib.suppress(Exception):  # ours, built for an older package list
                    client.images.remove(stale)
    return time.monotonic() - started


def _image_id(client: Any, image: str) -> str | None:
    """The id of ``image`` if present."""
    try:
        return str(client.images.get(image).id)
    except Exception:
        return None


def ensure_images(client: Any, images: list[str]) -> dict[str, float]:
    """Make every image available, building the Debian ones in parallel; seconds per image."""
    unique = list(dict.fromkeys(images))
    with ThreadPoolExecutor(max_workers=max(1, len(unique))) as pool:
        futures = {image: pool.submit(ensure_image, client, image) for image in unique}
    return {image: future.result() for image, future in futures.items()}


def main() -> int:
    """Build (or find) every configured image; starts and stops a dockerd when needed."""
    from .dockerd import DockerUnavailable, get_docker_engine

    try:
        engine = get_docker_engine()
    except DockerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    try:
        images = [build.image for build in configured_builds()]
        for image, seconds in ensure_images(engine.client, images).items():
            print(f"{image}: ready ({seconds:.1f}s)")
    except ImageUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    finally:
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
