"""Build llama.cpp's own `llama-server`, the peer `make bench` compares pocketchat with.

It comes from the llama.cpp that llama-cpp-python vendors (the sdist of the version installed in
this interpreter) and gets the CPU flags scripts/install_llama.py gives the Python package, so
both sides run the same kernels. It is built once per version and flags (about 5-10 minutes on 2
cores) into ~/.cache/pocketchat/llama-server/<version>-<flags hash>/llama-server.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

from install_llama import BUILD_TRIM_ARGS, DISTRIBUTION, build_cmake_args, pinned_version

BINARY = "llama-server"
FAILED_MARKER = "failed.txt"
VERSION_CHECK_TIMEOUT_SECONDS = 60

# Only the server, linked statically so the cached binary stands alone, and nothing that reaches
# the network: LLAMA_CURL is what older llama.cpp fetched models with (deprecated, harmless now),
# LLAMA_OPENSSL is its HTTPS client, and LLAMA_USE_PREBUILT_UI would download the web UI from a
# Hugging Face bucket at build time (without it the server serves the API alone, all we need).
SERVER_ARGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
)

EPILOG = """\
environment:
  LLAMA_CMAKE_ARGS    CMake CPU flags that replace the detected ones (as for install_llama.py)
  LLAMA_SERVER_CACHE  where builds are kept (default ~/.cache/pocketchat/llama-server)

exit codes: 0 built or already built, 1 the build failed (the reason is also written to
<cache>/<key>.failed.txt for the bench to show), 130 interrupted
"""


class BuildError(Exception):
    """Why llama-server could not be built, in one sentence."""


def installed_version() -> str:
    """The llama-cpp-python version in this interpreter, or pyproject's pin when none is."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return pinned_version(DISTRIBUTION)


def cpu_cmake_args(environ: Mapping[str, str], cpuinfo: str, machine: str) -> list[str]:
    """install_llama.py's CPU flags (AMX always off: it dies with SIGILL on these Xeon VMs)."""
    package_args = shlex.split(build_cmake_args(environ, cpuinfo, machine))
    return [arg for arg in package_args if arg not in BUILD_TRIM_ARGS]


def server_cmake_args(cpu_args: list[str]) -> list[str]:
    return [*SERVER_ARGS, *cpu_args]


def cache_root(environ: Mapping[str, str]) -> Path:
    default = Path.home() / ".cache" / "pocketchat" / "llama-server"
    return Path(environ.get("LLAMA_SERVER_CACHE") or default).expanduser()


def cache_entry(root: Path, version: str, cmake_args: list[str]) -> Path:
    """<root>/<version>-<hash of the flags and platform>: one build per flag set."""
    identity = "\n".join([version, *cmake_args, platform.system(), platform.machine()])
    return root / f"{version}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


def build_plan(environ: Mapping[str, str]) -> tuple[str, list[str], Path]:
    """Version, CMake flags and cache entry for this interpreter's llama-cpp-python and this CPU."""
    cpuinfo_path = Path("/proc/cpuinfo")
    cpuinfo = cpuinfo_path.read_text(encoding="utf-8") if cpuinfo_path.exists() else ""
    cmake_args = server_cmake_args(cpu_cmake_args(environ, cpuinfo, platform.machine()))
    version = installed_version()
    return version, cmake_args, cache_entry(cache_root(environ), version, cmake_args)


def failure_file(entry: Path) -> Path:
    return entry.with_name(f"{entry.name}.{FAILED_MARKER}")


def locate(entry: Path) -> tuple[Path | None, str]:
    """The built binary, or None and why there is none (the bench prints it)."""
    binary = entry / BINARY
    if binary.is_file():
        return binary, ""
    failed = failure_file(entry)
    if failed.is_file():
        return None, failed.read_text(encoding="utf-8").strip()
    return None, "run `python scripts/build_llama_server.py` (`make bench` does)"


def run(command: list[str], failure: str, cwd: Path | None = None) -> None:
    print("+", shlex.join(command), flush=True)
    try:
        result = subprocess.run(command, cwd=cwd, check=False)
    except FileNotFoundError as error:
        raise BuildError(f"{failure}: {error.filename} is not installed") from error
    if result.returncode != 0:
        raise BuildError(f"{failure} (exit code {result.returncode})")


def fetch_sdist(version: str, into: Path) -> Path:
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--dest",
            str(into),
            f"{DISTRIBUTION}=={version}",
        ],
        f"downloading the llama-cpp-python {version} sdist failed (it needs PyPI)",
    )
    archives = sorted(into.glob("*.tar.gz"))
    if not archives:
        raise BuildError(f"pip downloaded no sdist of llama-cpp-python {version}")
    return archives[0]


def unpack_llama_cpp(sdist: Path, into: Path) -> Path:
    """The vendored llama.cpp tree of an sdist archive (or of an unpacked sdist directory)."""
    if sdist.is_dir():
        root = sdist
    else:
        with tarfile.open(sdist) as archive:
            archive.extractall(into, filter="data")
        tops = [path for path in into.iterdir() if path.is_dir()]
        root = tops[0] if len(tops) == 1 else into
    source = root / "vendor" / "llama.cpp"
    if not (source / "tools" / "server").is_dir():
        raise BuildError(f"{sdist} holds no vendor/llama.cpp with tools/server")
    return source


def version_check(binary: Path) -> None:
    """`llama-server --version` loads ggml's CPU backend: a SIGILL here would hit the bench too."""
    try:
        result = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_CHECK_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise BuildError(f"`{binary.name} --version` did not finish") from error
    if result.returncode != 0:
        raise BuildError(
            f"`{binary.name} --version` failed with exit code {result.returncode}: "
            f"{result.stderr.strip()[-300:]}"
        )


def build(entry: Path, version: str, cmake_args: list[str], sdist: Path | None) -> Path:
    """Compile in <entry>.work (kept when interrupted, so a re-run resumes the compile), then move
    the checked binary into <entry>: nothing half-built ever sits under the key."""
    work = entry.with_name(f"{entry.name}.work")
    build_dir = work / "build"
    source = work / "source"
    if not (source / "vendor" / "llama.cpp").is_dir():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        with tempfile.TemporaryDirectory(dir=work) as download:
            archive = sdist or fetch_sdist(version, Path(download))
            unpacked = unpack_llama_cpp(archive, Path(download) / "unpacked")
            shutil.copytree(unpacked, source / "vendor" / "llama.cpp", symlinks=True)
    llama_cpp = source / "vendor" / "llama.cpp"
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
    print(
        f"Compiling llama-server {version} for this CPU: about 5-10 minutes on 2 cores, once.",
        flush=True,
    )
    run(["cmake", "-S", str(llama_cpp), "-B", str(build_dir), *cmake_args], "cmake failed")
    run(
        ["cmake", "--build", str(build_dir), "--target", BINARY, "--parallel", jobs],
        "compiling llama-server failed",
    )
    built = build_dir / "bin" / BINARY
    if not built.is_file():
        raise BuildError(f"the build reported success but left no {built}")
    version_check(built)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the build from other users of the cache
    shutil.copy2(built, staging / BINARY)
    (staging / "build.json").write_text(
        json.dumps({"version": version, "cmake_args": cmake_args}, indent=2), encoding="utf-8"
    )
    shutil.rmtree(entry, ignore_errors=True)
    staging.rename(entry)
    shutil.rmtree(work, ignore_errors=True)
    return entry / BINARY


def ensure_built(environ: Mapping[str, str], sdist: Path | None) -> Path:
    version, cmake_args, entry = build_plan(environ)
    binary, _ = locate(entry)
    if binary is not None:
        print(f"llama-server {version} for this CPU is built: {binary}")
        return binary
    entry.parent.mkdir(parents=True, exist_ok=True)
    try:
        binary = build(entry, version, cmake_args, sdist)
    except BuildError as error:
        failure_file(entry).write_text(f"{error}\n", encoding="utf-8")
        raise
    failure_file(entry).unlink(missing_ok=True)
    print(f"llama-server {version} is built: {binary}")
    return binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    parser.add_argument(
        "--sdist",
        type=Path,
        help="a llama-cpp-python sdist (.tar.gz or unpacked directory) instead of pip download",
    )
    args = parser.parse_args(argv)
    try:
        ensure_built(os.environ, args.sdist)
    except BuildError as error:
        print(f"error: {error}.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; run this again to resume the compile.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
