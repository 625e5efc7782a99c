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

# orchard_add_layer(NAME LAYERS <lower layers it uses>... SOURCES ... [PUBLIC ...] [PRIVATE ...]):
# the OBJECT library orchard_NAME of the folder src/orchard/NAME/ (one layer, see
# docs/architecture.md "Layers"). It links the orchard_* libraries of LAYERS, which must all
# come before NAME in ORCHARD_LAYER_ORDER, and the third-party libraries it uses. The
# closure (NAME and every layer below it that it reaches) is recorded for
# orchard_link_layer. orchard_core is these objects in one static library.
function(orchard_add_layer name)
  cmake_parse_arguments(ARG "" "" "LAYERS;SOURCES;PUBLIC;PRIVATE" ${ARGN})
  list(FIND ORCHARD_LAYER_ORDER ${name} rank)
  if(rank EQUAL -1)
    message(FATAL_ERROR "orchard_add_layer(${name}): not in ORCHARD_LAYER_ORDER")
  endif()
  set(closure "")
  foreach(dep IN LISTS ARG_LAYERS)
    list(FIND ORCHARD_LAYER_ORDER ${dep} dep_rank)
    if(dep_rank EQUAL -1 OR NOT dep_rank LESS rank)
      message(FATAL_ERROR "orchard_add_layer(${name}): layer '${dep}' is not below it "
                          "(ORCHARD_LAYER_ORDER: ${ORCHARD_LAYER_ORDER})")
    endif()
    get_property(dep_closure GLOBAL PROPERTY ORCHARD_LAYER_CLOSURE_${dep})
    list(APPEND closure ${dep_closure})
  endforeach()
  list(APPEND closure orchard_${name})
  list(REMOVE_DUPLICATES closure)
  set_property(GLOBAL PROPERTY ORCHARD_LAYER_CLOSURE_${name} ${closure})
  set_property(GLOBAL APPEND PROPERTY ORCHARD_LAYER_LIBRARIES orchard_${name})

  add_library(orchard_${name} OBJECT ${ARG_SOURCES})
  list(TRANSFORM ARG_LAYERS PREPEND orchard_)
  target_link_libraries(orchard_${name} PUBLIC ${ARG_LAYERS} ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE})
  orchard_set_warnings(orchard_${name})
endfunction()

# orchard_link_layer(TARGET LAYER): links TARGET with the objects of LAYER and of every
# layer below it that LAYER uses, and nothing else of orchard (an object library's objects
# go only into targets that link it directly, hence the closure).
function(orchard_link_layer target layer)
  get_property(closure GLOBAL PROPERTY ORCHARD_LAYER_CLOSURE_${layer})
  if(NOT closure)
    message(FATAL_ERROR "orchard_link_layer(${target}): no layer '${layer}'")
  endif()
  target_link_libraries(${target} PRIVATE ${closure})
endfunction()

# orchard_add_test(NAME SOURCES... [LAYERS layer...] [LABELS ...]): one GoogleTest binary,
# registered in ctest. With LAYERS it links only those layers' libraries and the ones below
# them (orchard_link_layer), so a test of a low layer proves that the layer links without
# the ones above; without it, orchard_core (everything).
function(orchard_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LAYERS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  if(ARG_LAYERS)
    foreach(layer IN LISTS ARG_LAYERS)
      orchard_link_layer(${name} ${layer})
    endforeach()
  else()
    target_link_libraries(${name} PRIVATE orchard_core)
  endif()
  target_link_libraries(${name} PRIVATE GTest::gtest_main)
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
