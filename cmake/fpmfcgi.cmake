# libfpmfcgi: the FastCGI client as a shared library of its own, for other
# programs (fpmstat and the collectd plugin keep linking the static fpmcore).
# Included from the top CMakeLists.txt. The library is built from the client
# sources only: they need libc and pthreads, nothing of yajl or the FPM layer.
#
#   libfpmfcgi.so.0 (SOVERSION 0; docs/client-library-abi.md says when it
#   changes), exporting exactly what fcgi.h declares, under the version
#   nodes of src/fcgi/libfpmfcgi.map; the header goes to
#   <includedir>/fpmfcgi/fcgi.h (#include <fpmfcgi/fcgi.h>) and fpmfcgi.pc to
#   <libdir>/pkgconfig.

# The client sources (FPMFCGI_SOURCES, set by src/fcgi/CMakeLists.txt, which
# builds the same files into the static fpmfcgi_static) and its public
# header. Included after add_subdirectory(src/fcgi).
set(FPMFCGI_DIR ${CMAKE_SOURCE_DIR}/src/fcgi)
set(FPMFCGI_PRIVATE_INCLUDE_DIR ${FPMFCGI_DIR})
set(FPMFCGI_HEADER ${FPMFCGI_DIR}/include/fcgi.h)
set(FPMFCGI_MAP ${FPMFCGI_DIR}/libfpmfcgi.map)

set(FPMFCGI_VERSION ${PROJECT_VERSION})
set(FPMFCGI_SOVERSION 0)

if(NOT FPMFCGI_SOURCES OR NOT EXISTS ${FPMFCGI_HEADER})
  message(STATUS "libfpmfcgi: skipped (no client sources or no fcgi.h)")
  return()
endif()
# A fuzzing build instruments every object for libFuzzer and clang's ASan,
# whose runtime only executables link: nothing there uses the shared
# library, and --no-undefined would refuse it.
if(BUILD_FUZZERS)
  message(STATUS "libfpmfcgi: skipped in the fuzzing build")
  return()
endif()

# The header as users include it (<fpmfcgi/fcgi.h>), staged in the build tree
# so that in-tree users see the installed layout.
set(FPMFCGI_STAGE_INCLUDE_DIR ${CMAKE_BINARY_DIR}/fpmfcgi-include)
configure_file(${FPMFCGI_HEADER} ${FPMFCGI_STAGE_INCLUDE_DIR}/fpmfcgi/fcgi.h
               COPYONLY)

add_library(fpmfcgi SHARED ${FPMFCGI_SOURCES})
set_target_properties(fpmfcgi PROPERTIES
  VERSION ${FPMFCGI_VERSION}
  SOVERSION ${FPMFCGI_SOVERSION}
  C_VISIBILITY_PRESET hidden
  LINK_DEPENDS ${FPMFCGI_MAP})
# Everything is compiled hidden; cmake/fpmfcgi_export.h is force-included
# first and declares the public API (fcgi.h) with default visibility, so the
# internal functions shared between the client's files stay out of the
# dynamic symbol table. The version script then names each exported symbol.
target_compile_options(fpmfcgi PRIVATE
  -include ${CMAKE_SOURCE_DIR}/cmake/fpmfcgi_export.h)
target_include_directories(fpmfcgi
  PRIVATE ${FPMFCGI_PRIVATE_INCLUDE_DIR} ${FPMFCGI_DIR}/include
  INTERFACE $<BUILD_INTERFACE:${FPMFCGI_STAGE_INCLUDE_DIR}>
            $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(fpmfcgi PRIVATE Threads::Threads)
target_link_options(fpmfcgi PRIVATE
  -Wl,--version-script=${FPMFCGI_MAP} -Wl,--no-undefined -Wl,--as-needed)

# fpmfcgi.pc: paths relative to ${prefix} where they can be, so that
# `pkg-config --define-variable=prefix=DIR` finds a copy installed elsewhere.
foreach(_d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_d}}")
    set(FPMFCGI_PC_${_d} "${CMAKE_INSTALL_${_d}}")
  else()
    set(FPMFCGI_PC_${_d} "\${prefix}/${CMAKE_INSTALL_${_d}}")
  endif()
endforeach()
configure_file(${CMAKE_SOURCE_DIR}/cmake/fpmfcgi.pc.in
               ${CMAKE_BINARY_DIR}/fpmfcgi.pc @ONLY)

install(TARGETS fpmfcgi
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        COMPONENT fpmfcgi NAMELINK_COMPONENT fpmfcgi-dev)
install(FILES ${FPMFCGI_HEADER}
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/fpmfcgi COMPONENT fpmfcgi-dev)
install(FILES ${CMAKE_BINARY_DIR}/fpmfcgi.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT fpmfcgi-dev)

if(NOT BUILD_TESTING)
  return()
endif()

# Tests (tests/fpmfcgi/):
#  - the header alone, in C and in C++ (extern "C", no missing includes),
#    each program linked against the shared library and run;
#  - the exported symbols are exactly the functions fcgi.h declares, all
#    under a version node, and the soname is libfpmfcgi.so.0.
set(_fpmfcgi_tests ${CMAKE_SOURCE_DIR}/tests/fpmfcgi)
# Only the language flags a user would use: not the project's C-only list.
set(_fpmfcgi_test_opts -Wall -Wextra -pedantic)
if(WERROR)
  list(APPEND _fpmfcgi_test_opts -Werror)
endif()
if(ENABLE_SANITIZERS)
  list(APPEND _fpmfcgi_test_opts ${FPM_SAN})
endif()

add_executable(fpmfcgi_header_c ${_fpmfcgi_tests}/header_c.c)
set_target_properties(fpmfcgi_header_c PROPERTIES
  C_STANDARD 99 COMPILE_OPTIONS "${_fpmfcgi_test_opts}")
target_link_libraries(fpmfcgi_header_c PRIVATE fpmfcgi)
add_test(NAME fpmfcgi_header_c COMMAND fpmfcgi_header_c)
set_tests_properties(fpmfcgi_header_c PROPERTIES LABELS unit TIMEOUT 60)

# C++ is enabled for this one test only, and only when a compiler is there.
include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  add_executable(fpmfcgi_header_cxx ${_fpmfcgi_tests}/header_cxx.cpp)
  set_target_properties(fpmfcgi_header_cxx PROPERTIES
    CXX_STANDARD 11 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
    COMPILE_OPTIONS "${_fpmfcgi_test_opts}")
  target_link_libraries(fpmfcgi_header_cxx PRIVATE fpmfcgi)
  add_test(NAME fpmfcgi_header_cxx COMMAND fpmfcgi_header_cxx)
  set_tests_properties(fpmfcgi_header_cxx PROPERTIES LABELS unit TIMEOUT 60)
else()
  message(STATUS "libfpmfcgi: no C++ compiler, the C++ header test is skipped")
endif()

add_test(NAME fpmfcgi_exports
         COMMAND bash ${_fpmfcgi_tests}/exports.sh $<TARGET_FILE:fpmfcgi>
                 ${FPMFCGI_HEADER} ${FPMFCGI_MAP})
set_tests_properties(fpmfcgi_exports PROPERTIES LABELS unit TIMEOUT 60)
