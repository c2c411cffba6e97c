# qwenvl_library(NAME folder DEPS ...): a static library of every .cc file in src/<folder>.
function(qwenvl_library folder)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  if(srcs)
    add_library(qwenvl_${folder} STATIC ${srcs})
    set(scope PUBLIC)
  else()  # a folder with headers only (so far)
    add_library(qwenvl_${folder} INTERFACE)
    set(scope INTERFACE)
  endif()
  target_include_directories(qwenvl_${folder} ${scope} ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(qwenvl_${folder} ${scope} ${ARG_DEPS})
endfunction()

# qwenvl_tests(folder DEPS ...): one GoogleTest binary of every *_test.cc in tests/<folder>.
function(qwenvl_tests folder)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${folder}/*_test.cc)
  if(NOT srcs)
    return()
  endif()
  add_executable(qwenvl_${folder}_test ${srcs})
  target_link_libraries(qwenvl_${folder}_test PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(qwenvl_${folder}_test PRIVATE
    QWENVL_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data"
    QWENVL_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    QWENVL_BINARY_DIR="${PROJECT_BINARY_DIR}"
    QWENVL_DEMO_MODEL_DIR="${QWENVL_DEMO_MODEL_DIR}"
    QWENVL_DATA_DIR="${PROJECT_SOURCE_DIR}/data")
  if(TARGET demo_model)
    add_dependencies(qwenvl_${folder}_test demo_model)
  endif()
  gtest_discover_tests(qwenvl_${folder}_test WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
    DISCOVERY_TIMEOUT 60 PROPERTIES LABELS ${folder})
endfunction()
