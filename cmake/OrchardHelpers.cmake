# Compiler flags and test registration shared by every target.

function(orchard_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers)
  if(ORCHARD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

if(ORCHARD_SANITIZE)
  add_compile_options(-fsanitize=${ORCHARD_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${ORCHARD_SANITIZE})
endif()

# orchard_add_test(NAME SOURCES... [LABELS ...]): one GoogleTest binary, registered in ctest.
function(orchard_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE orchard_core GTest::gtest_main)
  orchard_set_warnings(${name})
  target_compile_definitions(${name} PRIVATE
    ORCHARD_SOURCE_DIR="${PROJECT_SOURCE_DIR}" ORCHARD_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "unit;${ARG_LABELS}" TIMEOUT 600)
endfunction()

# orchard_add_pytest(NAME FILE [LABELS ...] [TIMEOUT s]): a pytest file run by ctest, so
# that one runner (ctest) reports every test of the project.
function(orchard_add_pytest name file)
  cmake_parse_arguments(ARG "" "TIMEOUT" "LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 900)
  endif()
  add_test(NAME ${name}
           COMMAND "${Python3_EXECUTABLE}" -m pytest -q -p no:cacheprovider "${file}"
           WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}")
  set_tests_properties(${name} PROPERTIES LABELS "integration;${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "ORCHARD_BIN=$<TARGET_FILE:orchard>;ORCHARD_BUILD_DIR=${PROJECT_BINARY_DIR};PYTHONPATH=${PROJECT_SOURCE_DIR}/python")
endfunction()
