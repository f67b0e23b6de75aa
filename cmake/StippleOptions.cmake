# Compiler flags for stipple's own targets. Third-party headers are included as system headers
# (imported targets do that), so -Werror applies to our code only.
set(STIPPLE_SANITIZE "" CACHE STRING "Sanitizer build: '', 'address' (ASan+UBSan) or 'thread' (TSan)")

# The fuzzing build (`make fuzz`, in build-fuzz/): clang, every file instrumented for libFuzzer
# with ASan and UBSan, only the torch-free libraries and fuzz/'s targets (fuzz/CMakeLists.txt).
option(STIPPLE_FUZZ "Build the libFuzzer targets with clang (no torch engine, no tests)" OFF)

add_library(stipple_flags INTERFACE)
target_compile_options(stipple_flags INTERFACE -Wall -Wextra -Werror -Wno-missing-field-initializers)
target_include_directories(stipple_flags INTERFACE ${PROJECT_SOURCE_DIR}/src)

if(STIPPLE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(STIPPLE_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT STIPPLE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "STIPPLE_SANITIZE must be empty, 'address' or 'thread'")
endif()

if(STIPPLE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "STIPPLE_FUZZ needs clang (CXX=clang++ CC=clang)")
  endif()
  if(NOT STIPPLE_SANITIZE STREQUAL "")
    message(FATAL_ERROR "STIPPLE_FUZZ brings its own sanitizers; leave STIPPLE_SANITIZE empty")
  endif()
  # -O1 with line tables only: faster to build, and enough for the sanitizers' stack traces.
  set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O1 -gline-tables-only")
  set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O1 -gline-tables-only")
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# stipple_library(NAME SOURCES... DEPS ...): one CMake library per src/ folder.
function(stipple_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC stipple_flags ${ARG_DEPS})
endfunction()

# stipple_test(NAME SOURCES... DEPS ... LABELS ... [PROPERTIES NAME VALUE...]): a GoogleTest
# executable registered with ctest; PROPERTIES are set on each of its tests.
function(stipple_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS;PROPERTIES" ${ARGN})
  if(STIPPLE_FUZZ)
    # Declared (folders may set its properties) but never built nor run in the fuzzing build.
    add_executable(${name} EXCLUDE_FROM_ALL ${ARG_SOURCES})
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE stipple_flags ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${ARG_LABELS}" ${ARG_PROPERTIES})
endfunction()
