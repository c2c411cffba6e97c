# The trained demo checkpoint ships compressed (data/demo/model/model.safetensors.xz, 11.6 MB) and
# is unpacked into the build folder as a complete model folder: build/demo-model/.
find_program(XZ_EXECUTABLE xz REQUIRED)
set(QWENVL_DEMO_MODEL_DIR ${PROJECT_BINARY_DIR}/demo-model)
set(demo_src ${PROJECT_SOURCE_DIR}/data/demo/model)
set(demo_files config.json generation_config.json chat_template.json preprocessor_config.json
               tokenizer.json tokenizer_config.json)
set(demo_outputs ${QWENVL_DEMO_MODEL_DIR}/model.safetensors)
set(copy_commands)
foreach(f ${demo_files})
  list(APPEND demo_outputs ${QWENVL_DEMO_MODEL_DIR}/${f})
  # configure_file-like copy that follows the symbolic links in data/demo/model.
  list(APPEND copy_commands COMMAND ${CMAKE_COMMAND} -E copy ${demo_src}/${f} ${QWENVL_DEMO_MODEL_DIR}/${f})
endforeach()
add_custom_command(
  OUTPUT ${demo_outputs}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${QWENVL_DEMO_MODEL_DIR}
  COMMAND sh -c "${XZ_EXECUTABLE} -dc '${demo_src}/model.safetensors.xz' > '${QWENVL_DEMO_MODEL_DIR}/model.safetensors.tmp'"
  COMMAND ${CMAKE_COMMAND} -E rename ${QWENVL_DEMO_MODEL_DIR}/model.safetensors.tmp ${QWENVL_DEMO_MODEL_DIR}/model.safetensors
  ${copy_commands}
  DEPENDS ${demo_src}/model.safetensors.xz
  COMMENT "Unpacking the demo checkpoint into ${QWENVL_DEMO_MODEL_DIR}"
  VERBATIM)
add_custom_target(demo_model ALL DEPENDS ${demo_outputs})
