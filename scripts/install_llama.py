"""Install llama-cpp-python compiled for this CPU into the running interpreter and prove it runs.

There is no prebuilt Linux wheel, so it compiles from source (about 10 minutes on 2 cores). The
wheel is kept in a cache keyed by version, CMake flags, Python and platform: a re-run installs it
again in seconds, and does nothing at all when that very wheel is already installed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Mapping
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
PYPROJECT = SCRIPTS.parent / "pyproject.toml"
DISTRIBUTION = "llama-cpp-python"
SELFCHECK_TIMEOUT_SECONDS = 600
PASSED_MARKER = "selfcheck-passed"

# Smaller, faster build: the Python package needs none of these.
BUILD_TRIM_ARGS = (
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_CURL=OFF",
)

# ggml's x86 options and the /proc/cpuinfo flags each needs (ggml-cpu/CMakeLists.txt: GGML_AVX512
# compiles with -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw).
X86_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GGML_SSE42", ("sse4_2",)),
    ("GGML_AVX", ("avx",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_F16C", ("f16c",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    ("GGML_AVX512", ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")),
    (
        "GGML_AVX512_VNNI",
        ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw", "avx512_vnni"),
    ),
)
# Always off. AMX: a native build on these Xeon VMs dies with SIGILL in ggml's AMX matmul on the
# first decode. AVX512_VBMI only changes what ggml reports; AVX512_BF16 only speeds up BF16
# weights, which no preset has, and was not verified on this hardware.
X86_ALWAYS_OFF = (
    "GGML_AVX512_VBMI",
    "GGML_AVX512_BF16",
    "GGML_AMX_TILE",
    "GGML_AMX_INT8",
    "GGML_AMX_BF16",
)


EPILOG = """\
environment:
  LLAMA_CMAKE_ARGS   CMake flags that replace the detected CPU flags, e.g. '-DGGML_NATIVE=ON'
  LLAMA_WHEEL_CACHE  the wheel cache (default ~/.cache/pocketchat/wheels)

exit codes: 0 installed, 1 build or install failed, 2 usage, 3 self-check failed,
130 interrupted
"""


class InstallError(Exception):
    """A failure the user can act on; the message is one sentence."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def pinned_version(name: str, pyproject: Path = PYPROJECT) -> str:
    """The `name==X` pin from pyproject.toml, the one place versions are kept."""
    match = re.search(rf'"{re.escape(name)}==([^"\s;]+)"', pyproject.read_text(encoding="utf-8"))
    if match is None:
        raise InstallError(f"{pyproject} does not pin {name}==<version>", exit_code=2)
    return match.group(1)


def cpu_flags(cpuinfo: str) -> set[str]:
    """The feature words of the first CPU in a /proc/cpuinfo text (x86 `flags`, arm `Features`)."""
    match = re.search(r"^(?:flags|Features)\s*:(.*)$", cpuinfo, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def detect_cmake_args(cpuinfo: str, machine: str) -> list[str]:
    """CMake flags for this CPU: explicit instruction sets on x86-64, a native build elsewhere."""
    flags = cpu_flags(cpuinfo)
    if machine.lower() not in ("x86_64", "amd64") or not flags:
        # arm64 and the rest: -march/-mcpu=native is right there and has no AMX trap.
        return ["-DGGML_NATIVE=ON"]
    args = ["-DGGML_NATIVE=OFF"]
    for option, needs in X86_OPTIONS:
        args.append(f"-D{option}={'ON' if flags.issuperset(needs) else 'OFF'}")
    return args + [f"-D{option}=OFF" for option in X86_ALWAYS_OFF]


def build_cmake_args(environ: Mapping[str, str], cpuinfo: str, machine: str) -> str:
    """LLAMA_CMAKE_ARGS, when set, replaces the detected CPU flags entirely."""
    override = environ.get("LLAMA_CMAKE_ARGS", "").strip()
    cpu_args = shlex.split(override) if override else detect_cmake_args(cpuinfo, machine)
    return " ".join([*BUILD_TRIM_ARGS, *cpu_args])


def cache_key(version: str, cmake_args: str) -> str:
    python_tag = sys.implementation.cache_tag or sys.implementation.name
    identity = "\n".join([version, cmake_args, python_tag, sysconfig.get_platform()])
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def cache_root(environ: Mapping[str, str]) -> Path:
    default = Path.home() / ".cache" / "pocketchat" / "wheels"
    return Path(environ.get("LLAMA_WHEEL_CACHE") or default).expanduser()


def cached_wheel(entry: Path) -> Path | None:
    wheels = sorted(entry.glob("*.whl")) if entry.is_dir() else []
    return wheels[0] if wheels else None


def installed_from(entry: Path, version: str) -> bool:
    """Whether `version` is installed from the wheel in `entry`, and that wheel passed the check."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return False
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    wheel = cached_wheel(entry)
    return (
        dist.version == version
        and wheel is not None
        and direct_url.get("url") == wheel.resolve().as_uri()
        and (entry / PASSED_MARKER).exists()
    )


def run(command: list[str], failure: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, env=env, check=False)
    if result.returncode != 0:
        raise InstallError(f"{failure} (exit code {result.returncode}, pip's output is above)")


def build_wheel(version: str, cmake_args: str, entry: Path) -> Path:
    """Compile the wheel into a sibling directory, then rename it to `entry` so no half-built
    wheel ever sits under the key."""
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None or shutil.which("cc") is None:
        raise InstallError(
            "no C/C++ compiler found: install one "
            "(Debian/Ubuntu: apt-get install build-essential cmake)"
        )
    print(
        "Compiling llama.cpp for this CPU: this takes about 10 minutes on 2 cores, once.",
        flush=True,
    )
    print(f"  CMAKE_ARGS={cmake_args}", flush=True)
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    env = dict(os.environ, CMAKE_ARGS=cmake_args)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
    try:
        # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and would hand back another build.
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-cache-dir",
                "--no-binary",
                DISTRIBUTION,
                "--wheel-dir",
                str(staging),
                f"{DISTRIBUTION}=={version}",
            ],
            f"compiling llama-cpp-python {version} failed: it needs PyPI, CMake and a compiler",
            env=env,
        )
        (staging / "build.json").write_text(
            json.dumps(
                {"version": version, "cmake_args": cmake_args, "python": sys.version}, indent=2
            ),
            encoding="utf-8",
        )
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    wheel = cached_wheel(entry)
    if wheel is None:
        raise InstallError(f"pip reported success but left no wheel in {entry}")
    return wheel


def install_wheel(wheel: Path) -> None:
    print(f"Installing {wheel.name} from {wheel.parent} …", flush=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # --force-reinstall --no-deps replaces only llama-cpp-python (another build of the same version
    # may be installed); its dependencies and the self-check's gguf/numpy then resolve normally.
    failure = f"installing {wheel} failed"
    run([*pip, "--force-reinstall", "--no-deps", str(wheel)], failure)
    pins = [f"gguf=={pinned_version('gguf')}", f"numpy=={pinned_version('numpy')}"]
    run([*pip, str(wheel), *pins], failure)


def selfcheck_failure(command: list[str], timeout: float = SELFCHECK_TIMEOUT_SECONDS) -> str | None:
    """Run the self-check in a child process; None when it passed, else what happened, in words."""
    print("Self-check: loading a tiny generated model and decoding a few tokens …", flush=True)
    try:
        result = subprocess.run(command, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"the self-check did not finish within {timeout:.0f} seconds"
    if result.returncode == 0:
        return None
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        what = (
            " (illegal instruction: the build uses a CPU feature this machine lacks)"
            if name == "SIGILL"
            else ""
        )
        return f"the self-check was killed by {name}{what}"
    return f"the self-check failed with exit code {result.returncode}"


def reject_build(entry: Path, failure: str) -> InstallError:
    """Forget a build that does not run here, so the next attempt compiles afresh."""
    shutil.rmtree(entry, ignore_errors=True)
    return InstallError(
        f"llama-cpp-python does not run on this CPU: {failure}; the build was uninstalled and "
        "removed from the cache; set LLAMA_CMAKE_ARGS to other CPU flags (for example "
        "LLAMA_CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VNNI=OFF') and run "
        "this again",
        exit_code=3,
    )


def install(environ: Mapping[str, str]) -> None:
    version = pinned_version(DISTRIBUTION)
    cpuinfo = (
        Path("/proc/cpuinfo").read_text(encoding="utf-8") if Path("/proc/cpuinfo").exists() else ""
    )
    cmake_args = build_cmake_args(environ, cpuinfo, platform.machine())
    entry = cache_root(environ) / cache_key(version, cmake_args)
    if installed_from(entry, version):
        print(f"llama-cpp-python {version} for this CPU is installed (build {entry.name}).")
        return
    wheel = cached_wheel(entry)
    if wheel is None:
        wheel = build_wheel(version, cmake_args, entry)
    else:
        print(f"Using the wheel built earlier for this CPU: {entry}", flush=True)
    install_wheel(wheel)
    failure = selfcheck_failure([sys.executable, str(SCRIPTS / "selfcheck.py")])
    if failure is not None:
        # No llama_cpp at all says "run make again"; a crashing one would kill the server later.
        uninstall = [sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", DISTRIBUTION]
        subprocess.run(uninstall, check=False)
        raise reject_build(entry, failure)
    (entry / PASSED_MARKER).touch()
    print(
        f"llama-cpp-python {version} is installed and passed its self-check (build {entry.name})."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    parser.parse_args(argv)
    try:
        install(os.environ)
    except InstallError as error:
        print(f"error: {error}.", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(
            "error: interrupted; run this again to finish (no half-built wheel is kept).",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
