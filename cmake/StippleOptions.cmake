# Compiler flags for stipple's own targets. Third-party headers are included as system headers
# (imported targets do that), so -Werror applies to our code only.
set(STIPPLE_SANITIZE "" CACHE STRING "Sanitizer build: '', 'address' (ASan+UBSan) or 'thread' (TSan)")

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
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE stipple_flags ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${ARG_LABELS}" ${ARG_PROPERTIES})
endfunction()
