#!/bin/sh
# Every program we build must carry libev inside it (libev.a), never load libev.so: Debian's
# libev.so exports libevent's symbol names too, and Open MPI then crashes in MPI_Init.
set -u
fail=0
for bin in "$@"; do
  if readelf -d "$bin" | grep -q 'NEEDED.*libev\.so'; then
    echo "FAIL: $bin loads libev.so:"; readelf -d "$bin" | grep NEEDED; fail=1
  fi
  if ! nm "$bin" | grep -q ' T ev_run$'; then
    echo "FAIL: $bin does not contain libev's ev_run (libev is not linked in statically)"; fail=1
  fi
  if nm -D "$bin" 2>/dev/null | grep -q ' T event_add$'; then
    echo "FAIL: $bin exports event_add, which would shadow libevent's inside Open MPI"; fail=1
  fi
done
if [ "$fail" = 0 ]; then echo "check_static_libev: $# passed, 0 failed"; fi
exit "$fail"
