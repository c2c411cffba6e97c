# install() rules and the CMake package: another project can
#   find_package(qwenvl CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE qwenvl::qwenvl)
# qwenvl::qwenvl is the engine (include/qwenvl/engine.h) with the static libraries under it.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(QWENVL_INSTALLED_LIBS
  qwenvl_util qwenvl_io qwenvl_text qwenvl_grammar qwenvl_media qwenvl_kernels qwenvl_compute qwenvl_model qwenvl_runtime)
foreach(lib IN LISTS QWENVL_INSTALLED_LIBS)
  # The build tree reads headers from src/ and include/; installed, only include/ (the public API).
  set_target_properties(${lib} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>;$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>;$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
endforeach()

# The executable is named qwenvl, so the library target is qwenvl_lib, exported as qwenvl::qwenvl.
add_library(qwenvl_lib INTERFACE)
target_link_libraries(qwenvl_lib INTERFACE qwenvl_runtime)
set_target_properties(qwenvl_lib PROPERTIES EXPORT_NAME qwenvl)
add_library(qwenvl::qwenvl ALIAS qwenvl_lib)

install(TARGETS qwenvl_lib ${QWENVL_INSTALLED_LIBS} EXPORT qwenvlTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS qwenvl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/qwenvl DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/qwenvl)
install(EXPORT qwenvlTargets NAMESPACE qwenvl:: DESTINATION ${config_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/qwenvlConfig.cmake.in
  ${PROJECT_BINARY_DIR}/qwenvlConfig.cmake INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/qwenvlConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/qwenvlConfig.cmake ${PROJECT_BINARY_DIR}/qwenvlConfigVersion.cmake
  DESTINATION ${config_dir})

# The demo checkpoint (unpacked by cmake/DemoModel.cmake) and a picture from its test scenes, so that
# an installed qwenvl answers without a download:
#   qwenvl run -m /usr/share/qwenvl/demo-model --image /usr/share/qwenvl/demo.png -p "How many shapes are there?"
set(QWENVL_INSTALL_DATADIR ${CMAKE_INSTALL_DATADIR}/qwenvl)
install(DIRECTORY ${QWENVL_DEMO_MODEL_DIR}/ DESTINATION ${QWENVL_INSTALL_DATADIR}/demo-model
  FILES_MATCHING PATTERN "*.json" PATTERN "model.safetensors")
install(FILES ${PROJECT_SOURCE_DIR}/data/demo/scenes/scene03.png DESTINATION ${QWENVL_INSTALL_DATADIR}
  RENAME demo.png)
install(FILES ${PROJECT_SOURCE_DIR}/data/demo/README.md DESTINATION ${QWENVL_INSTALL_DATADIR}
  RENAME demo-model.md)
