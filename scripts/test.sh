#!/usr/bin/env bash
# Set up if needed, then run the whole test suite twice: a warnings-as-errors build, and a build
# with AddressSanitizer and UndefinedBehaviorSanitizer.  Exit status 0 only if both pass.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

echo "== build (-Werror) and test"
"$here/scripts/setup.sh" "$here/build" -DEVF_WERROR=ON
(cd "$here/build" && ctest --output-on-failure -j"$jobs")

echo "== build (ASan + UBSan) and test"
"$here/scripts/setup.sh" "$here/build-asan" -DEVF_WERROR=ON -DEVF_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
(cd "$here/build-asan" && ctest --output-on-failure -j"$jobs")
