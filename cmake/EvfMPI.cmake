# Which MPI the build uses, and the launcher that belongs to it.
#
# FindMPI finds the MPI (the first mpicc on PATH -- `module load` -- or -DMPI_C_COMPILER=...,
# e.g. mpicc.mpich on a Debian machine with both Open MPI and MPICH). Its MPIEXEC_EXECUTABLE
# is whatever `mpiexec` comes first, which on such a machine is the other MPI's: a program
# built with MPICH and started by Open MPI's mpirun runs as N singletons. So the launcher is
# chosen here by the library's vendor (read from its mpi.h): EVF_MPIEXEC, used by the tests,
# scripts/evfarm-mpirun and the installed job scripts.
#
# Sets EVF_MPI_VENDOR ("Open MPI", "MPICH" or "MPI"), EVF_MPI_VERSION, EVF_MPIEXEC (cache) and
# EVF_MPI_MODULE (cache: the environment module of this MPI, for the module file).

set(EVF_MPI_VENDOR "MPI")
set(EVF_MPI_VERSION "${MPI_C_VERSION}")
foreach(dir ${MPI_C_INCLUDE_DIRS} ${MPI_C_HEADER_DIR})
  if(EXISTS "${dir}/mpi.h")
    file(STRINGS "${dir}/mpi.h" _evf_mpih
         REGEX "^#define (MPICH_VERSION|OMPI_(MAJOR|MINOR|RELEASE)_VERSION)[ \t]")
    if(_evf_mpih MATCHES "MPICH_VERSION[ \t]+\"([^\"]*)\"")
      set(EVF_MPI_VENDOR "MPICH")
      set(EVF_MPI_VERSION "${CMAKE_MATCH_1}")
    elseif(_evf_mpih MATCHES "OMPI_MAJOR_VERSION[ \t]+([0-9]+).*OMPI_MINOR_VERSION[ \t]+([0-9]+).*OMPI_RELEASE_VERSION[ \t]+([0-9]+)")
      set(EVF_MPI_VENDOR "Open MPI")
      set(EVF_MPI_VERSION "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}.${CMAKE_MATCH_3}")
    endif()
    break()
  endif()
endforeach()

if(EVF_MPI_VENDOR STREQUAL "MPICH")
  set(_evf_launchers mpiexec.mpich mpiexec.hydra mpiexec mpirun.mpich mpirun)
  set(_evf_signature "HYDRA|MPICH")
elseif(EVF_MPI_VENDOR STREQUAL "Open MPI")
  set(_evf_launchers mpiexec.openmpi mpirun.openmpi mpiexec mpirun)
  set(_evf_signature "Open MPI|OpenRTE")
else()
  set(_evf_launchers mpiexec mpirun)
  set(_evf_signature "")
endif()
# The launcher beside the compiler wrapper first (a module's bin/), then PATH.
get_filename_component(_evf_mpicc "${MPI_C_COMPILER}" REALPATH)
get_filename_component(_evf_mpibin "${_evf_mpicc}" DIRECTORY)
get_filename_component(_evf_mpibin2 "${MPI_C_COMPILER}" DIRECTORY)
find_program(EVF_MPIEXEC NAMES ${_evf_launchers} HINTS "${_evf_mpibin2}" "${_evf_mpibin}"
             DOC "the MPI launcher for this build's MPI library (mpiexec of ${EVF_MPI_VENDOR})")
if(NOT EVF_MPIEXEC)
  message(WARNING "no MPI launcher (${_evf_launchers}) found for ${EVF_MPI_VENDOR}: "
          "set -DEVF_MPIEXEC=/path/to/mpiexec to run the tests")
  set(EVF_MPIEXEC mpiexec)
elseif(_evf_signature)
  execute_process(COMMAND "${EVF_MPIEXEC}" --version OUTPUT_VARIABLE _evf_lv ERROR_VARIABLE _evf_lv
                  TIMEOUT 20 RESULT_VARIABLE _evf_lrc)
  if(NOT _evf_lv MATCHES "${_evf_signature}")
    message(WARNING "EVF_MPIEXEC=${EVF_MPIEXEC} does not look like ${EVF_MPI_VENDOR}'s launcher "
            "(its --version says no '${_evf_signature}'): the build's programs need the launcher "
            "of the MPI they were built with; set -DEVF_MPIEXEC=...")
  endif()
endif()

# The environment module of this MPI, if the build ran under one (for the module file to load).
set(_evf_module "")
if(DEFINED ENV{LOADEDMODULES})
  string(REPLACE ":" ";" _evf_mods "$ENV{LOADEDMODULES}")
  foreach(m ${_evf_mods})
    string(TOLOWER "${m}" _evf_m)
    if(_evf_m MATCHES "(^|/|-)(openmpi|open-mpi|ompi|mpich|mvapich[0-9]*|intel-?mpi|impi|hpcx|cray-mpich|mpi)([/-]|$)")
      set(_evf_module "${m}")
      break()
    endif()
  endforeach()
endif()
set(EVF_MPI_MODULE "${_evf_module}" CACHE STRING
    "environment module of the MPI this build uses (the module file loads it); default: the MPI module loaded at configure time, if any")
message(STATUS "MPI: ${EVF_MPI_VENDOR} ${EVF_MPI_VERSION} (${MPI_C_COMPILER}), launcher ${EVF_MPIEXEC}")
if(EVF_MPI_MODULE)
  message(STATUS "MPI module: ${EVF_MPI_MODULE}")
endif()
