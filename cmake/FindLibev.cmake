# FindLibev: locate libev's header and its *static* archive.
#
# Debian's libev-dev ships no pkg-config file, so we search by hand. We insist on libev.a:
# Debian's libev.so also exports libevent-compatible symbols (event_add, event_base_*...), and
# Open MPI, which uses libevent internally, then calls into libev from MPI_Init and crashes.
# The static archive contributes only ev.o, so nothing of libevent's name space is shadowed.
#
# Result: Libev_FOUND, Libev_INCLUDE_DIR, Libev_LIBRARY and the imported target Libev::Libev.

find_path(Libev_INCLUDE_DIR NAMES ev.h PATH_SUFFIXES libev)
find_library(Libev_LIBRARY NAMES libev.a)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Libev
  REQUIRED_VARS Libev_LIBRARY Libev_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "need ev.h and the static libev.a (Debian: apt-get install libev-dev)")

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
mark_as_advanced(Libev_INCLUDE_DIR Libev_LIBRARY Libev_M_LIBRARY)
