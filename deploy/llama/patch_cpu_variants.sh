#!/bin/sh
# Trims llama.cpp's GGML_CPU_ALL_VARIANTS list (ggml/src/CMakeLists.txt, given as $1) to the
# variants that are safe to ship; run by the Dockerfile on the unpacked llama-cpp-python sdist.
set -eu
cmakelists="$1"

# x86-64: no `sapphirerapids` variant. Measured: on Xeon VMs that advertise AMX, ggml scores it
# best and it dies with SIGILL (AMX tile matmul) on the first decode; without it `zen4`
# (AVX-512 VBMI/VNNI/BF16) is chosen there and decodes as fast as an explicit AVX-512 build.
# Real Sapphire Rapids hosts get `zen4` too, so nothing else loses more than AMX.
sed -i '/ggml_add_cpu_backend_variant(sapphirerapids/d' "$cmakelists"

# arm64: the armv9.2 (SME) variants need a compiler that knows -march=armv9.2-a+sme (GCC 14+);
# Debian bookworm's GCC 12 fails on them. No Raspberry Pi has SME: the Pi 4 (Cortex-A72) runs
# armv8.0_1 and the Pi 5 (Cortex-A76, dot product + fp16) armv8.2_2.
if ! echo 'int main(void) { return 0; }' \
        | cc -march=armv9.2-a+sme -x c -o /dev/null - 2>/dev/null; then
    sed -i '/ggml_add_cpu_backend_variant(armv9\.2_/d' "$cmakelists"
fi

if grep -q 'ggml_add_cpu_backend_variant(sapphirerapids' "$cmakelists" \
        || ! grep -q 'ggml_add_cpu_backend_variant(zen4' "$cmakelists"; then
    echo "patch_cpu_variants: $cmakelists does not have the expected variant list" >&2
    exit 1
fi
