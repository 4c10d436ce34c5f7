"""Which stage1 image a pod runs under (rkt's rkt/stage1hash.go).

One of `--stage1-path=FILE`, `--stage1-url=file://FILE`, `--stage1-name=NAME[:VERSION]`,
`--stage1-hash=ID`, `--stage1-from-dir=FILENAME` (a file in the paths.d `stage1-images` dir)
picks it explicitly. Otherwise the default is the stage1.d configuration (name, version,
location) layered over the built-in default (`DEFAULT_NAME` at this rkt's version, located at
`<sys.prefix>/lib/rkt/stage1.aci`): it is found in the store by name and version, and imported
from its location only the first time. Stage1 images from local files are trusted as they are
(no signature check), as rkt did: they are part of the installation, not downloads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rkt import report
from rkt.errors import RktError

TYPE_CHECKING = False  # typing's own constant, without importing typing on `rkt run`
if TYPE_CHECKING:
    from rkt.pod.spec import Stage1Ref

DEFAULT_NAME = "coreos.com/rkt/stage1-python"


def default_version() -> str:
    from rkt import __version__

    return __version__


def default_location() -> Path:
    return Path(sys.prefix) / "lib" / "rkt" / "stage1.aci"


def default_images_dir() -> Path:
    return Path(sys.prefix) / "lib" / "rkt" / "stage1-images"


# the config subdirs rkt.config reads (its SUBDIRS), named here so that a run without any
# configuration does not import the config model
_CONFIG_SUBDIRS = ("auth.d", "paths.d", "stage1.d")


def _no_config(opts) -> bool:
    """Whether no config dir holds anything rkt.config would read (then its configuration is
    the default one); any doubt (an unreadable or odd dir) is left to rkt.config."""
    for directory in opts.config_dirs:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        except OSError:
            return False
        if any(name in _CONFIG_SUBDIRS for name in names):
            return False
    return True


def _config(opts):
    if _no_config(opts):
        return None
    from rkt.config import load

    return load(opts)


def _import_file(store, path: Path, what: str) -> str:
    if not path.is_file():
        raise RktError(f"{what} {path}: not found" if not path.exists()
                       else f"{what} {path}: not a regular file")
    try:
        return store.import_aci(path)
    except RktError as err:
        raise err.within(f"{what} {path}") from None


def _file_location(location: str, what: str) -> Path:
    if location.startswith("file://"):
        location = location[len("file://"):]
    elif "://" in location:
        raise RktError(f"{what} {location}: only local files are supported")
    if not location.startswith("/"):
        raise RktError(f"{what} {location}: must be an absolute path")
    return Path(location)


def _by_name(store, name: str, version: str | None):
    labels = {"version": version} if version else None
    return store.find(name, labels)


def select(opts, store, choice: "Stage1Ref | None") -> str:
    """The stage1 image ID for a pod, importing the image into the store if needed; `choice`
    None means the configured default."""
    from rkt.fetch import debug

    kind, value = (choice.kind, choice.value) if choice else (None, "")
    if kind in ("path", "url"):
        path = (Path(value).absolute() if kind == "path"
                else _file_location(value, "--stage1-url"))
        debug(opts, f"using image from file {path}")
        return _import_file(store, path, "stage1 image")
    if kind == "hash":
        image_id = store.resolve(value if value.startswith("sha512-") else f"sha512-{value}").id
        debug(opts, f"using image from the store with hash {image_id}")
        return image_id
    if kind == "name":
        name, _, version = value.partition(":")
        info = _by_name(store, name, version or None)
        if info is None:
            raise RktError(f'stage1 image "{value}" is not in the store '
                           "(fetch it first, or use --stage1-path)")
        debug(opts, f"using image from local store for image name {value}")
        return info.id
    config = _config(opts)
    if kind == "from-dir":
        if "/" in value or value in ("", ".", ".."):
            raise RktError(f"--stage1-from-dir: {value!r} must be a file name, not a path")
        images_dir = (config.paths.stage1_images if config and config.paths.stage1_images
                      else None)
        directory = Path(images_dir) if images_dir else default_images_dir()
        return _import_file(store, directory / value, "stage1 image")
    return _default(store, config)


def _default(store, config) -> str:
    name, version, location = DEFAULT_NAME, default_version(), str(default_location())
    if config is not None and config.stage1.name:
        name, version = config.stage1.name, config.stage1.version
    if config is not None and config.stage1.location:
        location = config.stage1.location
    info = _by_name(store, name, version)
    if info is not None:
        return info.id
    path = _file_location(location, "default stage1 image")
    if not path.exists():
        raise RktError(f"default stage1 image {name}:{version} is not in the store and "
                       f"{path} does not exist (run `make install`, or use --stage1-path)")
    image_id = _import_file(store, path, "default stage1 image")
    imported = store.manifest(image_id)
    if imported.name != name or (version and imported.label("version") != version):
        # Still usable by ID, but the next run will import the file again: say why.
        report.warn(f"stage1 image {path} is {imported.name}:"
                    f"{imported.label('version')}, not {name}:{version}")
    return image_id


def check_stage1(manifest_json: dict, image_id: str) -> str:
    """That an image is a stage1 this rkt can run: its run entrypoint (path relative to its
    rootfs) and interface version are readable, as `rkt.pod.entrypoints` reads them."""
    from rkt.pod import entrypoints

    if entrypoints.annotation(manifest_json, entrypoints.ANNOTATION_PREFIX + "run") is None:
        raise RktError(f"stage1 image {image_id[:39]}: no coreos.com/rkt/stage1/run annotation: "
                       "not a stage1 image")
    try:
        run = entrypoints.entrypoint_path(manifest_json, "run")
        entrypoints.interface_version(manifest_json)
    except RktError as err:
        raise err.within(f"stage1 image {image_id[:39]}") from None
    return run
