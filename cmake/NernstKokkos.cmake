# Chooses the Kokkos of a nernst build (the build tree only; an installed nernst finds the Kokkos
# it was built with through NernstDependencies.cmake).
#
# NERNST_KOKKOS (cache):
#   AUTO   (default) a threaded Kokkos the user has installed (OpenMP, Threads, CUDA, HIP, SYCL:
#          find_package(Kokkos), Kokkos_ROOT); when only a Serial one (Debian's 3.4.1) or none is
#          found, Kokkos 4.6.01 with OpenMP is built as part of nernst (FetchContent) and installed
#          beside it.
#   SYSTEM whatever find_package(Kokkos) finds, Serial included (Debian's libtrilinos-kokkos-dev).
#   FETCH  always build Kokkos 4.6.01 (back ends from the usual Kokkos_ENABLE_* options; OpenMP
#          when none is given).
#
# Where the sources come from: FETCHCONTENT_SOURCE_DIR_KOKKOS (an unpacked tree) wins; else the
# release archive in ${NERNST_SHARED_DIR}/third_party (machines without network access); else a
# download from GitHub.
include_guard(GLOBAL)

set(NERNST_KOKKOS "AUTO" CACHE STRING "Kokkos of the build: AUTO, SYSTEM or FETCH (see cmake/NernstKokkos.cmake)")
set_property(CACHE NERNST_KOKKOS PROPERTY STRINGS AUTO SYSTEM FETCH)
string(TOUPPER "${NERNST_KOKKOS}" _nernst_kokkos_mode)
if(NOT _nernst_kokkos_mode MATCHES "^(AUTO|SYSTEM|FETCH)$")
  message(FATAL_ERROR "nernst: NERNST_KOKKOS must be AUTO, SYSTEM or FETCH (got '${NERNST_KOKKOS}')")
endif()

set(NERNST_KOKKOS_FETCHED FALSE)
set(NERNST_KOKKOS_THREADED FALSE)  # the build's Kokkos has a parallel host or device back end
if(_nernst_kokkos_mode STREQUAL "AUTO")
  add_subdirectory(${CMAKE_CURRENT_LIST_DIR}/kokkos_probe ${CMAKE_BINARY_DIR}/_nernst_kokkos_probe)
  if(NERNST_SYSTEM_KOKKOS_THREADED)
    message(STATUS "nernst: using the installed Kokkos (${NERNST_SYSTEM_KOKKOS_DEVICES})")
    set(NERNST_KOKKOS_THREADED TRUE)
  else()
    if(NERNST_SYSTEM_KOKKOS_FOUND)
      message(STATUS "nernst: the installed Kokkos has no parallel back end (${NERNST_SYSTEM_KOKKOS_DEVICES}); "
        "building Kokkos 4.6.01 with OpenMP (NERNST_KOKKOS=SYSTEM keeps it)")
    else()
      message(STATUS "nernst: no installed Kokkos; building Kokkos 4.6.01 with OpenMP")
    endif()
    set(NERNST_KOKKOS_FETCHED TRUE)
  endif()
elseif(_nernst_kokkos_mode STREQUAL "FETCH")
  set(NERNST_KOKKOS_FETCHED TRUE)
else()  # SYSTEM
  add_subdirectory(${CMAKE_CURRENT_LIST_DIR}/kokkos_probe ${CMAKE_BINARY_DIR}/_nernst_kokkos_probe)
  set(NERNST_KOKKOS_THREADED ${NERNST_SYSTEM_KOKKOS_THREADED})
endif()

if(NERNST_KOKKOS_FETCHED)
  include(FetchContent)
  set(_nernst_kokkos_archive "${NERNST_SHARED_DIR}/third_party/kokkos-4.6.01.tar.gz")
  if(EXISTS "${_nernst_kokkos_archive}")
    FetchContent_Declare(Kokkos URL "${_nernst_kokkos_archive}" DOWNLOAD_EXTRACT_TIMESTAMP TRUE
      URL_HASH SHA256=d8a8a5e15331c46b900d3f75d2b62b0b32f067b126a4a75d465224c899765084)
  else()
    FetchContent_Declare(Kokkos GIT_REPOSITORY https://github.com/kokkos/kokkos.git GIT_TAG 4.6.01 GIT_SHALLOW TRUE)
  endif()
  # Back ends: the user's Kokkos_ENABLE_* choices, else OpenMP (host threads) beside Serial.
  if(NOT Kokkos_ENABLE_OPENMP AND NOT Kokkos_ENABLE_THREADS AND NOT Kokkos_ENABLE_CUDA AND NOT Kokkos_ENABLE_HIP
     AND NOT Kokkos_ENABLE_SYCL)
    find_package(OpenMP COMPONENTS CXX)
    if(OpenMP_CXX_FOUND)
      set(Kokkos_ENABLE_OPENMP ON CACHE BOOL "Kokkos OpenMP back end (set by nernst)")
    else()
      set(Kokkos_ENABLE_THREADS ON CACHE BOOL "Kokkos C++ threads back end (set by nernst)")
    endif()
  endif()
  set(Kokkos_ENABLE_SERIAL ON CACHE BOOL "Kokkos Serial back end (set by nernst)")
  # Kokkos is linked into nernst's shared libraries (C API, LAMMPS pair style): position-independent.
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  FetchContent_MakeAvailable(Kokkos)
  set(NERNST_KOKKOS_THREADED TRUE)
  add_library(nernst::kokkos INTERFACE IMPORTED GLOBAL)
  target_link_libraries(nernst::kokkos INTERFACE Kokkos::kokkos)
  message(STATUS "nernst: Kokkos 4.6.01 from ${kokkos_SOURCE_DIR}")
endif()
