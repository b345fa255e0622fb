#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root):
#   1. install the packages (scripts/install-deps.sh)
#   2. clang-format check
#   3. release build with -Werror: unit + integration tests (ctest)
#   4. ASan/UBSan build with -Werror: the same tests
#   5. valgrind (memcheck, leaks are errors) over the integration tests
#   6. every fuzz target for a short bounded time (when clang is present)
#   after 3: the Debian packages built, linted, installed, used and purged
#   (tests/packages.sh; as root with dpkg-buildpackage; FPMT_PACKAGES=0 skips)
# FPMT_QUICK=1 skips steps 4-6. Exit status: non-zero if anything failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc)
fail=0
step() { printf '\n=== %s ===\n' "$*"; }

step "dependencies"
bash scripts/install-deps.sh || exit 1

step "clang-format"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src collectd-plugin tests bench fuzz -name '*.[ch]')
if ! clang-format --dry-run -Werror $files; then
  echo "clang-format: the files above are not formatted"; fail=1
fi

# Every build the suite tests is configured here with its options spelled
# out, in directories of its own (build/test-*): a cache left by the demo or
# by hand (BUILD_TESTING=OFF, another build type) cannot leave a step with
# nothing to run.
build() { # dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DWERROR=ON "$@" >"$dir.cmake.log" 2>&1 || { cat "$dir.cmake.log"; return 1; }
  cmake --build "$dir" -j"$jobs" 2>&1 | grep -vE '^\[ *[0-9]+%\]' ; return "${PIPESTATUS[0]}"
}

# One test at a time: integration tests start real servers, and unit and
# integration tests alike check deadlines (within 50 ms) and intervals, which
# a second test loading the same 2 cores would blur. Serial costs under a
# minute here.
run_ctest() {
  local rc=0
  (cd "$1" && ctest --no-tests=error --output-on-failure -j1 --timeout 900 -L unit) || rc=1
  (cd "$1" && ctest --no-tests=error --output-on-failure -j1 --timeout 900 -L integration) || rc=1
  return $rc
}

step "release build (-Werror)"
mkdir -p build
if build build/test-release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON \
    -DBUILD_BENCH=ON -DCOLLECTD_PLUGIN=ON; then
  step "tests (release)"
  run_ctest build/test-release || fail=1
else
  fail=1
fi

if [ "${FPMT_PACKAGES:-1}" != 0 ] && [ "$(id -u)" = 0 ] && command -v dpkg-buildpackage >/dev/null; then
  step "Debian packages (build, lintian, install, use, purge)"
  bash tests/packages.sh || fail=1
fi

if [ "${FPMT_QUICK:-0}" != 1 ]; then
  step "ASan/UBSan build (-Werror)"
  if build build/test-asan -DCMAKE_BUILD_TYPE=Debug -DENABLE_SANITIZERS=ON \
      -DBUILD_TESTING=ON -DBUILD_BENCH=OFF -DCOLLECTD_PLUGIN=ON; then
    step "tests (ASan/UBSan)"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 run_ctest build/test-asan || fail=1
  else
    fail=1
  fi

  step "valgrind (integration tests of the release build)"
  (cd build/test-release && FPMT_VALGRIND=1 ctest --no-tests=error --output-on-failure -L valgrind --timeout 900) || fail=1

  if [ -f fuzz/CMakeLists.txt ] && command -v clang >/dev/null; then
    step "fuzz targets (short runs)"
    if CC=clang build build/test-fuzz -DBUILD_FUZZERS=ON -DBUILD_TESTING=OFF -DBUILD_BENCH=OFF \
        -DCOLLECTD_PLUGIN=OFF; then
      bash fuzz/run.sh build/test-fuzz "${FPMT_FUZZ_SECONDS:-20}" || fail=1
    else
      fail=1
    fi
  fi
fi

step "summary"
if [ $fail = 0 ]; then echo "test.sh: all steps passed"; else echo "test.sh: FAILED (see above)"; fi
exit $fail
