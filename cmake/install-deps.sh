#!/usr/bin/env bash
# Installs nernst's build and test dependencies from Debian (bookworm) packages.
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config git
  libtrilinos-kokkos-dev   # Kokkos 3.4.1 (Serial); a user's own Kokkos is preferred when found
  libeigen3-dev xtensor-dev libsymspg-dev nlohmann-json3-dev libzip-dev libcli11-dev
  doctest-dev libbenchmark-dev
  libfftw3-dev librsvg2-dev   # optional: FFTW backend of the MSD estimator, PNG plots
  liblammps-dev lammps openmpi-bin   # optional: pair_style nernst and its tests (examples/lammps)
)
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
