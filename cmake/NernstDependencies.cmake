# Finds nernst's dependencies and creates the nernst::kokkos, nernst::spglib and nernst::libzip
# targets. Used both by the build tree and by the installed nernstConfig.cmake.
include_guard(GLOBAL)
include(CMakeFindDependencyMacro)

# --- Kokkos -------------------------------------------------------------------------------------
# A user's own Kokkos (OpenMP, CUDA, ...) wins. Debian's libtrilinos-kokkos-dev ships a TriBITS
# config whose Kokkos::kokkos target points at /usr/lib/include, which does not exist: detect that
# and build an imported target from the real header and library locations instead.
if(NOT TARGET nernst::kokkos)
  find_package(Kokkos CONFIG QUIET HINTS ${NERNST_KOKKOS_HINT})
  set(_nernst_kokkos_ok FALSE)
  if(Kokkos_FOUND AND TARGET Kokkos::kokkos)
    get_target_property(_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
    set(_nernst_kokkos_ok TRUE)
    if(_inc)
      foreach(_d IN LISTS _inc)
        if(NOT _d MATCHES "^\\$<" AND NOT EXISTS "${_d}/Kokkos_Core.hpp")
          set(_nernst_kokkos_ok FALSE)
        endif()
      endforeach()
    endif()
  endif()
  add_library(nernst::kokkos INTERFACE IMPORTED GLOBAL)
  if(_nernst_kokkos_ok)
    message(STATUS "nernst: using Kokkos from ${Kokkos_DIR}")
    target_link_libraries(nernst::kokkos INTERFACE Kokkos::kokkos)
  else()
    find_path(NERNST_KOKKOS_INCLUDE_DIR Kokkos_Core.hpp
      HINTS ${Kokkos_INCLUDE_DIRS} PATHS /usr/include/trilinos /usr/local/include/trilinos
      PATH_SUFFIXES trilinos)
    find_library(NERNST_KOKKOSCORE_LIBRARY NAMES trilinos_kokkoscore kokkoscore)
    if(NOT NERNST_KOKKOS_INCLUDE_DIR OR NOT NERNST_KOKKOSCORE_LIBRARY)
      message(FATAL_ERROR "nernst: Kokkos not found. Install Debian's libtrilinos-kokkos-dev or "
        "point Kokkos_ROOT at a Kokkos installation.")
    endif()
    message(STATUS "nernst: Kokkos config unusable, using ${NERNST_KOKKOS_INCLUDE_DIR} and ${NERNST_KOKKOSCORE_LIBRARY}")
    find_package(Threads REQUIRED)
    target_include_directories(nernst::kokkos SYSTEM INTERFACE ${NERNST_KOKKOS_INCLUDE_DIR})
    target_link_libraries(nernst::kokkos INTERFACE ${NERNST_KOKKOSCORE_LIBRARY} Threads::Threads ${CMAKE_DL_LIBS})
  endif()
endif()

# --- Eigen, xtensor, nlohmann-json --------------------------------------------------------------
find_dependency(Eigen3 3.3 NO_MODULE)
find_dependency(xtensor)
find_dependency(nlohmann_json 3)

# --- spglib and libzip (pkg-config) -------------------------------------------------------------
find_package(PkgConfig REQUIRED)
if(NOT TARGET nernst::spglib)
  pkg_check_modules(NERNST_SPGLIB REQUIRED IMPORTED_TARGET GLOBAL spglib)
  add_library(nernst::spglib INTERFACE IMPORTED GLOBAL)
  target_link_libraries(nernst::spglib INTERFACE PkgConfig::NERNST_SPGLIB)
endif()
if(NOT TARGET nernst::libzip)
  pkg_check_modules(NERNST_LIBZIP REQUIRED IMPORTED_TARGET GLOBAL libzip)
  add_library(nernst::libzip INTERFACE IMPORTED GLOBAL)
  target_link_libraries(nernst::libzip INTERFACE PkgConfig::NERNST_LIBZIP)
endif()

# --- Optional pkg-config dependencies -------------------------------------------------------------
# nernst_optional_pkg(<name> <define> <what> <modules>...): when the option NERNST_WITH_<name> is on
# and pkg-config finds <modules>, an interface target nernst::<lowercase name> that links them
# and defines <define>=1 (the headers test it).
function(nernst_optional_pkg name define what)
  string(TOLOWER "${name}" lower)
  if(NOT NERNST_WITH_${name} OR TARGET nernst::${lower})
    return()
  endif()
  pkg_check_modules(NERNST_${name} QUIET IMPORTED_TARGET GLOBAL ${ARGN})
  if(NERNST_${name}_FOUND)
    add_library(nernst::${lower} INTERFACE IMPORTED GLOBAL)
    target_link_libraries(nernst::${lower} INTERFACE PkgConfig::NERNST_${name})
    target_compile_definitions(nernst::${lower} INTERFACE ${define}=1)
    message(STATUS "nernst: ${ARGN} found: ${what}")
  endif()
endfunction()

# FFTW 3: faster FFT backend of the MSD estimator (kissfft otherwise). GPL: a BSD-only build sets
# NERNST_WITH_FFTW=OFF to force Eigen's built-in kissfft.
option(NERNST_WITH_FFTW "Use FFTW 3 (Debian libfftw3-dev) as the FFT backend when found" ON)
nernst_optional_pkg(FFTW NERNST_HAVE_FFTW "FFT backend of the MSD estimator" fftw3)

# librsvg: PNG copies of the SVG plots.
option(NERNST_WITH_RSVG "Render PNG copies of plots with librsvg (Debian librsvg2-dev) when found" ON)
nernst_optional_pkg(RSVG NERNST_HAVE_RSVG "PNG plots" librsvg-2.0 cairo-png)
