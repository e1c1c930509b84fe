#!/usr/bin/env bash
# Builds nernst for NVIDIA GPUs: Kokkos 4.6.01 with the CUDA and OpenMP back ends, compiled with
# Kokkos' nvcc_wrapper, and nernst's tests and benchmarks on top of it.
#
#   scripts/cuda-build.sh [BUILD_DIR] [-- extra cmake arguments]      (default BUILD_DIR: build-cuda)
#
# Environment:
#   NERNST_CUDA_ARCH  Kokkos architecture option (default HOPPER90: H100/H200; e.g. AMPERE80)
#   NERNST_NVCC       the nvcc to use (default: /usr/bin/nvcc when present — Debian's CUDA 11.8 —
#                     else the first nvcc on PATH). Kokkos 4.6 supports CUDA 11.0-12.x, not 13.
#   NERNST_CUDA_HOST_CXX  host compiler nvcc drives (default: g++-11 when present; CUDA 11.8 does
#                     not accept GCC 12)
#   NERNST_SHARED_DIR the shared data directory (default ../shared): the Kokkos release archive in
#                     its third_party/ is used when present, else Kokkos is downloaded from GitHub.
#   NERNST_CUDA_TARGETS  targets to build (default: all of them)
#   JOBS              parallel compile jobs (default: number of cores)
#
# A machine without a GPU can run this (compile only; CI does): the binaries then stop at Kokkos'
# "no CUDA-capable device". On a GPU machine run scripts/gpu-check.sh afterwards. The binaries link
# the CUDA runtime statically, so a build made with CUDA 11.8 runs under a newer driver.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-cuda}
shift $(( $# > 0 ? 1 : 0 ))
[ "${1:-}" = "--" ] && shift
case "$build" in /*) ;; *) build="$root/$build" ;; esac
shared=${NERNST_SHARED_DIR:-$root/../shared}
arch=${NERNST_CUDA_ARCH:-HOPPER90}
jobs=${JOBS:-$(nproc)}

nvcc=${NERNST_NVCC:-}
if [ -z "$nvcc" ]; then
  if [ -x /usr/bin/nvcc ]; then nvcc=/usr/bin/nvcc; else nvcc=$(command -v nvcc || true); fi
fi
if [ -z "$nvcc" ] || [ ! -x "$nvcc" ]; then
  echo "cuda-build: no nvcc found (Debian: apt-get install nvidia-cuda-toolkit from non-free, or set NERNST_NVCC)" >&2
  exit 2
fi
cuda_version=$("$nvcc" --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1.\2/p')
case "$cuda_version" in
  11.*|12.*) ;;
  *) echo "cuda-build: $nvcc is CUDA $cuda_version; Kokkos 4.6 needs CUDA 11.0-12.x (set NERNST_NVCC)" >&2; exit 2 ;;
esac
host_cxx=${NERNST_CUDA_HOST_CXX:-}
if [ -z "$host_cxx" ]; then
  if command -v g++-11 >/dev/null; then host_cxx=g++-11; else host_cxx=g++; fi
fi
echo "cuda-build: CUDA $cuda_version ($nvcc), host compiler $host_cxx, Kokkos_ARCH_$arch, $build"

# nvcc_wrapper comes with the Kokkos sources, so they are unpacked before nernst is configured.
mkdir -p "$build"
kokkos_src="$build/_kokkos-4.6.01"
if [ ! -f "$kokkos_src/bin/nvcc_wrapper" ]; then
  archive="$shared/third_party/kokkos-4.6.01.tar.gz"
  mkdir -p "$kokkos_src"
  if [ -f "$archive" ]; then
    tar -xzf "$archive" -C "$kokkos_src" --strip-components=1
  else
    git clone -q --depth 1 --branch 4.6.01 https://github.com/kokkos/kokkos.git "$kokkos_src"
  fi
fi

# The compiler CMake gets is a two-line script that fixes nvcc and its host compiler, so that a
# later `cmake --build` from any shell (whatever nvcc comes first on its PATH) compiles the same way.
cuda_root="$(cd "$(dirname "$nvcc")/.." && pwd)"
cxx="$build/nvcc-cxx"
cat > "$cxx" <<WRAP
#!/bin/sh
PATH="$cuda_root/bin:\$PATH" CUDA_ROOT="$cuda_root" NVCC_WRAPPER_DEFAULT_COMPILER="$host_cxx" exec "$kokkos_src/bin/nvcc_wrapper" "\$@"
WRAP
chmod +x "$cxx"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DNERNST_KOKKOS=FETCH -DFETCHCONTENT_SOURCE_DIR_KOKKOS="$kokkos_src" \
  -DKokkos_ENABLE_CUDA=ON -DKokkos_ENABLE_OPENMP=ON "-DKokkos_ARCH_$arch=ON" \
  -DCUDAToolkit_ROOT="$cuda_root" \
  -DNERNST_SHARED_DIR="$shared" "$@"

targets=${NERNST_CUDA_TARGETS:-}
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" ${targets:+--target $targets}
