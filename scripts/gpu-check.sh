#!/usr/bin/env bash
# Runs nernst's test suite and benchmarks on a machine with an NVIDIA GPU, from a CUDA build.
#
#   scripts/gpu-check.sh [BUILD_DIR] [RESULTS_DIR]     (defaults: build-cuda, gpu-results)
#
# BUILD_DIR is a build made by scripts/cuda-build.sh, here or on another machine (the binaries link
# the CUDA runtime statically: one built with Debian's CUDA 11.8 runs under a newer driver). When it
# holds no build yet, scripts/cuda-build.sh makes one first (needs an nvcc of CUDA 11.x-12.x).
# RESULTS_DIR receives: gpu.txt (nvidia-smi), ctest.log and ctest.xml (JUnit), and one
# Google Benchmark JSON per benchmark (<name>.json) with its console output (<name>.txt).
#
# Environment: NERNST_SHARED_DIR (default ../shared), GPU_CHECK_BENCH_MIN_TIME (default 1 s),
# GPU_CHECK_BENCHMARKS (default: the ones below; names without the nernst_ prefix),
# GPU_CHECK_TESTS (a ctest -R regex; default: every test).
#
# What runs where in a CUDA build (docs/threads.md): neighbour lists, pair potentials and the MD
# integrators and thermostats are Kokkos kernels on the GPU (Kokkos' default execution space), and so
# are M3GNet's and CHGNet's energies, forces and stress (tests/kernels; bench_m3gnet_kernel and
# bench_chgnet_kernel compare them with the host evaluators); TensorNet and MACE run on the host
# threads (OpenMP) with positions and forces mirrored.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-cuda}
results=${2:-gpu-results}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
mkdir -p "$results"
results=$(cd "$results" && pwd)
export NERNST_SHARED_DIR=${NERNST_SHARED_DIR:-$root/../shared}

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi > "$results/gpu.txt" 2>&1; then
  echo "gpu-check: no NVIDIA GPU visible (nvidia-smi failed); see $results/gpu.txt" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >> "$results/gpu.txt"

if [ ! -f "$build/CMakeCache.txt" ]; then
  "$root/scripts/cuda-build.sh" "$build" || { echo "gpu-check: the CUDA build failed" >&2; exit 1; }
fi
grep -q "Kokkos_ENABLE_CUDA:BOOL=ON" "$build/CMakeCache.txt" ||
  { echo "gpu-check: $build is not a CUDA build (Kokkos_ENABLE_CUDA is off)" >&2; exit 2; }

status=0
echo "== tests" | tee "$results/ctest.log"
ctest --test-dir "$build" --output-on-failure -j1 --output-junit "$results/ctest.xml" \
  ${GPU_CHECK_TESTS:+-R "$GPU_CHECK_TESTS"} 2>&1 | tee -a "$results/ctest.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

min_time=${GPU_CHECK_BENCH_MIN_TIME:-1}
benches=${GPU_CHECK_BENCHMARKS:-"bench_neighbor_list bench_md bench_m3gnet bench_m3gnet_kernel bench_chgnet_kernel bench_threads bench_screen bench_replicas bench_memory"}
for b in $benches; do
  exe="$build/benchmarks/nernst_$b"
  if [ ! -x "$exe" ]; then
    echo "gpu-check: $exe not built, skipped" | tee -a "$results/benchmarks.log"
    continue
  fi
  echo "== $b" | tee -a "$results/benchmarks.log"
  "$exe" --benchmark_min_time="$min_time" --benchmark_out="$results/$b.json" --benchmark_out_format=json \
    > "$results/$b.txt" 2>&1
  rc=$?
  tail -n 40 "$results/$b.txt" | tee -a "$results/benchmarks.log"
  [ $rc -eq 0 ] || { echo "gpu-check: $b exited with $rc" | tee -a "$results/benchmarks.log"; status=1; }
done
echo "gpu-check: results in $results (status $status)"
exit $status
