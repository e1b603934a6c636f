# Install one text file with values of this installation written in (run by `cmake --install`,
# so CMAKE_INSTALL_PREFIX is the prefix given there, --prefix included).
#   EVF_SRC      the file in the source tree
#   EVF_DEST     where it goes, relative to the prefix
#   EVF_MODE     "exec" for a program, else a data file
#   EVF_SUBST    a list of KEY=VALUE: a line `KEY=""` (a shell assignment, the marker in the
#                source) becomes `KEY="VALUE"`.
# @PREFIX@ (in VALUE, or anywhere in the file) becomes the installation prefix.
#   EVF_STAGE    a directory of the build tree to write the result in first
file(READ "${EVF_SRC}" _text)
foreach(kv ${EVF_SUBST})
  string(FIND "${kv}" "=" _eq)
  string(SUBSTRING "${kv}" 0 ${_eq} _key)
  math(EXPR _eq "${_eq} + 1")
  string(SUBSTRING "${kv}" ${_eq} -1 _value)
  string(REPLACE "@PREFIX@" "${CMAKE_INSTALL_PREFIX}" _value "${_value}")
  set(_marker "\n${_key}=\"\"")
  string(FIND "${_text}" "${_marker}" _at)
  if(_at LESS 0)
    message(FATAL_ERROR "${EVF_SRC}: no line ${_key}=\"\" to fill in")
  endif()
  string(REPLACE "${_marker}" "\n${_key}=\"${_value}\"" _text "${_text}")
endforeach()
string(REPLACE "@PREFIX@" "${CMAKE_INSTALL_PREFIX}" _text "${_text}")
# Written to EVF_STAGE (in the build tree) first, then installed like any file: file(INSTALL)
# adds DESTDIR, says "Installing", sets the mode and lists it in install_manifest.txt.
get_filename_component(_name "${EVF_DEST}" NAME)
get_filename_component(_dir "${EVF_DEST}" DIRECTORY)
file(WRITE "${EVF_STAGE}/${_name}" "${_text}")
if(EVF_MODE STREQUAL "exec")
  set(_type PROGRAM)
else()
  set(_type FILE)
endif()
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/${_dir}" TYPE ${_type} FILES "${EVF_STAGE}/${_name}")
