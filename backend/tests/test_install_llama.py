"""install_llama.py: CPU flags from /proc/cpuinfo, the wheel cache key, and the self-check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import install_llama
import pytest
from pocketchat.settings import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"

# The flags lines of real machines (trimmed to what matters, order kept).
XEON_AMX = (
    "fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c bmi1 avx2 bmi2 avx512f avx512dq avx512cd "
    "avx512bw avx512vl avx_vnni avx512_bf16 avx512vbmi avx512_vnni amx_bf16 avx512_fp16 "
    "amx_tile amx_int8"
)
HASWELL = "fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c bmi1 avx2 bmi2"
SKYLAKE_X = "sse4_2 avx f16c fma bmi2 avx2 avx512f avx512dq avx512cd avx512bw avx512vl"
KNIGHTS_LANDING = "sse4_2 avx f16c fma bmi2 avx2 avx512f avx512pf avx512er avx512cd"
ZEN4 = (
    "sse4_2 avx f16c fma bmi2 avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 "
    "avx512vbmi avx512_vnni"
)
GRAVITON = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm dotprod"


def x86_cpuinfo(flags: str) -> str:
    return f"processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: {flags}\n\nprocessor\t: 1\n"


def options(args: list[str]) -> dict[str, str]:
    return dict(arg.removeprefix("-D").split("=", 1) for arg in args)


@pytest.mark.parametrize(
    ("cpuinfo", "machine", "expected"),
    [
        pytest.param(
            x86_cpuinfo(XEON_AMX), "x86_64",
            {"GGML_NATIVE": "OFF", "GGML_AVX512": "ON", "GGML_AVX512_VNNI": "ON",
             "GGML_AVX_VNNI": "ON", "GGML_AMX_TILE": "OFF", "GGML_AMX_INT8": "OFF",
             "GGML_AMX_BF16": "OFF", "GGML_AVX512_BF16": "OFF"},
            id="xeon-with-amx-gets-amx-off",
        ),
        pytest.param(
            x86_cpuinfo(HASWELL), "x86_64",
            {"GGML_NATIVE": "OFF", "GGML_AVX2": "ON", "GGML_FMA": "ON", "GGML_F16C": "ON",
             "GGML_AVX512": "OFF", "GGML_AVX512_VNNI": "OFF", "GGML_AVX_VNNI": "OFF"},
            id="avx2-only",
        ),
        pytest.param(
            x86_cpuinfo(SKYLAKE_X), "x86_64",
            {"GGML_AVX512": "ON", "GGML_AVX512_VNNI": "OFF"},
            id="avx512-without-vnni",
        ),
        pytest.param(
            x86_cpuinfo(KNIGHTS_LANDING), "x86_64",
            {"GGML_AVX512": "OFF", "GGML_AVX2": "ON"},
            id="avx512f-without-bw-vl-dq-is-not-enough",
        ),
        pytest.param(
            x86_cpuinfo(ZEN4), "x86_64",
            {"GGML_AVX512": "ON", "GGML_AVX512_VNNI": "ON", "GGML_AVX_VNNI": "OFF"},
            id="zen4",
        ),
        pytest.param(
            f"processor\t: 0\nFeatures\t: {GRAVITON}\nCPU implementer\t: 0x41\n", "aarch64",
            {"GGML_NATIVE": "ON"},
            id="arm64-native",
        ),
        pytest.param("", "x86_64", {"GGML_NATIVE": "ON"}, id="no-cpuinfo-native"),
    ],
)  # fmt: skip
def test_detected_flags(cpuinfo: str, machine: str, expected: dict[str, str]) -> None:
    detected = options(install_llama.detect_cmake_args(cpuinfo, machine))
    assert {name: detected.get(name) for name in expected} == expected


def test_arm64_build_is_native_only() -> None:
    cpuinfo = f"processor\t: 0\nFeatures\t: {GRAVITON}\n"
    assert install_llama.detect_cmake_args(cpuinfo, "arm64") == ["-DGGML_NATIVE=ON"]


def test_override_replaces_the_detected_flags() -> None:
    environ = {"LLAMA_CMAKE_ARGS": "-DGGML_NATIVE=ON -DGGML_AVX512=OFF"}
    args = install_llama.build_cmake_args(environ, x86_cpuinfo(XEON_AMX), "x86_64")
    trim = " ".join(install_llama.BUILD_TRIM_ARGS)
    assert args == f"{trim} -DGGML_NATIVE=ON -DGGML_AVX512=OFF"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("0.3.36", "-DGGML_NATIVE=OFF -DGGML_AVX512=ON"), ("0.3.36", "-DGGML_NATIVE=OFF")),
        (("0.3.36", "-DGGML_NATIVE=ON"), ("0.3.37", "-DGGML_NATIVE=ON")),
    ],
)
def test_cache_key_changes_with_version_and_flags(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    assert install_llama.cache_key(*first) != install_llama.cache_key(*second)


def test_wheel_cache_location_can_be_moved(tmp_path: Path) -> None:
    assert install_llama.cache_root({"LLAMA_WHEEL_CACHE": str(tmp_path)}) == tmp_path


@pytest.mark.parametrize("name", ["llama-cpp-python", "gguf", "numpy"])
def test_versions_come_from_pyproject(name: str) -> None:
    assert install_llama.pinned_version(name).replace(".", "").isdigit()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("pass", None),
        ("raise SystemExit(3)", "the self-check failed with exit code 3"),
        (
            "import os, signal; os.kill(os.getpid(), signal.SIGILL)",
            "the self-check was killed by SIGILL (illegal instruction: "
            "the build uses a CPU feature this machine lacks)",
        ),
    ],
    ids=["passes", "fails", "sigill"],
)
def test_selfcheck_outcome_in_words(code: str, expected: str | None) -> None:
    assert install_llama.selfcheck_failure([sys.executable, "-c", code]) == expected


def test_a_crashing_build_leaves_the_cache_with_a_clear_sentence(tmp_path: Path) -> None:
    entry = tmp_path / "0123456789abcdef"
    entry.mkdir()
    (entry / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl").write_bytes(b"not a wheel")
    killer = "import os, signal; os.kill(os.getpid(), signal.SIGILL)"
    failure = install_llama.selfcheck_failure([sys.executable, "-c", killer])
    assert failure is not None
    error = install_llama.reject_build(entry, failure)
    message = str(error)
    assert (
        entry.exists(),
        error.exit_code,
        "SIGILL" in message,
        "LLAMA_CMAKE_ARGS" in message,
    ) == (
        False,
        3,
        True,
        True,
    )


def test_selfcheck_runs_a_real_forward_pass() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "selfcheck.py")], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        0,
        "llama-cpp-python 0.3.36 runs on this CPU.",
    )
