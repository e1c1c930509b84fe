#!/usr/bin/env bash
# Installs nernst's build and test dependencies from Debian (bookworm) packages.
#   --cuda  also Debian's CUDA 11.8 toolkit (non-free; the "contrib non-free" components are added to
#           the Debian sources) and g++-11, its host compiler: what scripts/cuda-build.sh needs.
set -euo pipefail
cuda=0
[ "${1:-}" = "--cuda" ] && cuda=1
pkgs=(
  build-essential cmake pkg-config git
  libtrilinos-kokkos-dev   # Kokkos 3.4.1 (Serial); a user's own Kokkos is preferred when found
  libeigen3-dev xtensor-dev libsymspg-dev nlohmann-json3-dev libzip-dev libcli11-dev
  doctest-dev libbenchmark-dev
  libfftw3-dev librsvg2-dev   # optional: FFTW backend of the MSD estimator, PNG plots
  liblammps-dev lammps openmpi-bin   # optional: pair_style nernst and its tests (examples/lammps)
)
if [ $cuda -eq 1 ]; then
  cuda_pkgs=(nvidia-cuda-toolkit g++-11)
  src=/etc/apt/sources.list.d/debian.sources
  if [ -f $src ] && ! grep -q "non-free" $src && ! dpkg-query -W -f='${Status}' nvidia-cuda-toolkit 2>/dev/null | grep -q "install ok"; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO sed -i 's/^Components: main$/Components: main contrib non-free/' $src
  fi
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The CUDA toolkit with its recommended packages (the configuration scripts/cuda-build.sh was
# checked with).
if [ $cuda -eq 1 ] && ! dpkg-query -W -f='${Status}' nvidia-cuda-toolkit 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${cuda_pkgs[@]}"
fi
