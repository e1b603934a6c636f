# FindLibev: locate libev's header and its *static* archive.
#
# Where: -DLibev_ROOT=PREFIX (or the environment variable Libev_ROOT) searches PREFIX only --
# PREFIX/include/ev.h and PREFIX/lib[64]/libev.a, or lib/<multiarch> as a Debian package
# unpacked with dpkg -x has it -- so the libev a user names is the one linked. Without it, CMake's
# usual places: CMAKE_PREFIX_PATH, then the system.
#
# Why static: Debian's libev.so (and libev's own shared build, whose libev.la holds event.c)
# exports libevent-compatible symbols (event_add, event_base_*...), and Open MPI, which uses
# libevent internally, then calls into libev from MPI_Init and crashes. The static archive
# contributes only ev.o (nothing references event.o), so nothing of libevent's name space is
# shadowed. When only a shared libev is found, configuring stops here with that explanation
# instead of building a program that crashes in MPI_Init.
#
# Result: Libev_FOUND, Libev_INCLUDE_DIR, Libev_LIBRARY, Libev_VERSION and the imported target
# Libev::Libev.

set(_libev_root "")
if(DEFINED Libev_ROOT AND NOT "${Libev_ROOT}" STREQUAL "")
  set(_libev_root "${Libev_ROOT}")
elseif(DEFINED ENV{Libev_ROOT} AND NOT "$ENV{Libev_ROOT}" STREQUAL "")
  set(_libev_root "$ENV{Libev_ROOT}")
endif()

set(_libev_libdirs lib lib64)
if(CMAKE_LIBRARY_ARCHITECTURE)
  list(APPEND _libev_libdirs "lib/${CMAKE_LIBRARY_ARCHITECTURE}")
endif()

if(_libev_root)
  if(NOT IS_DIRECTORY "${_libev_root}")
    message(FATAL_ERROR "Libev_ROOT: '${_libev_root}' is not a directory (it should be the "
            "prefix libev was installed into, the one holding include/ev.h and lib/libev.a)")
  endif()
  set(_libev_where PATHS "${_libev_root}" NO_DEFAULT_PATH)
else()
  set(_libev_where)
endif()
find_path(Libev_INCLUDE_DIR NAMES ev.h PATH_SUFFIXES include include/libev libev ${_libev_where})
find_library(Libev_LIBRARY NAMES libev.a PATH_SUFFIXES ${_libev_libdirs} ${_libev_where})

if(NOT Libev_LIBRARY)
  # Only a shared libev (or none): say which, and why a shared one will not do.
  find_library(Libev_SHARED_LIBRARY NAMES ev PATH_SUFFIXES ${_libev_libdirs} ${_libev_where})
  if(Libev_SHARED_LIBRARY)
    message(FATAL_ERROR
      "found only a shared libev (${Libev_SHARED_LIBRARY}), no static libev.a beside it.\n"
      "evfarm links libev statically: a shared libev exports libevent's symbol names too "
      "(event_add, event_base_new, ...), Open MPI uses libevent inside, and every MPI program "
      "linked to libev.so then crashes in MPI_Init.  Install the static archive (Debian: "
      "apt-get install libev-dev; from libev's tarball: ./configure --prefix=$HOME/.local && "
      "make install, which builds libev.a too) and point -DLibev_ROOT=PREFIX at its prefix.")
  endif()
endif()

if(Libev_INCLUDE_DIR AND EXISTS "${Libev_INCLUDE_DIR}/ev.h")
  file(STRINGS "${Libev_INCLUDE_DIR}/ev.h" _libev_ver REGEX "^#define EV_VERSION_M(AJOR|INOR)")
  string(REGEX REPLACE ".*EV_VERSION_MAJOR[ \t]+([0-9]+).*" "\\1" _libev_major "${_libev_ver}")
  string(REGEX REPLACE ".*EV_VERSION_MINOR[ \t]+([0-9]+).*" "\\1" _libev_minor "${_libev_ver}")
  set(Libev_VERSION "${_libev_major}.${_libev_minor}")
endif()

if(_libev_root)
  set(_libev_reason "need ev.h and the static libev.a under Libev_ROOT=${_libev_root} "
      "(include/ and lib/, lib64/ or lib/${CMAKE_LIBRARY_ARCHITECTURE}/)")
else()
  set(_libev_reason "need ev.h and the static libev.a (Debian: apt-get install libev-dev; "
      "elsewhere -DLibev_ROOT=PREFIX for a libev installed under PREFIX)")
endif()
string(CONCAT _libev_reason ${_libev_reason})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Libev
  REQUIRED_VARS Libev_LIBRARY Libev_INCLUDE_DIR
  VERSION_VAR Libev_VERSION
  REASON_FAILURE_MESSAGE "${_libev_reason}")

if(Libev_FOUND AND NOT TARGET Libev::Libev)
  add_library(Libev::Libev STATIC IMPORTED)
  set_target_properties(Libev::Libev PROPERTIES
    IMPORTED_LOCATION "${Libev_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Libev_INCLUDE_DIR}")
  # ev.o calls floor()/ceil() from libm.
  find_library(Libev_M_LIBRARY m)
  if(Libev_M_LIBRARY)
    set_property(TARGET Libev::Libev APPEND PROPERTY INTERFACE_LINK_LIBRARIES "${Libev_M_LIBRARY}")
  endif()
endif()
mark_as_advanced(Libev_INCLUDE_DIR Libev_LIBRARY Libev_SHARED_LIBRARY Libev_M_LIBRARY)
