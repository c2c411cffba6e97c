# cmake -DSOURCES="a|b|c" -DOUT=header.h -DNAME=MACRO -P HashSources.cmake
# Writes `#define NAME "<first 16 hex digits of the SHA-256 of the files' SHA-256s>"` to OUT when it
# changes: a build identity for the kernels, so that speeds measured with other kernel sources are
# not trusted (compute/kernel_choice.cc).
string(REPLACE "|" ";" files "${SOURCES}")
list(SORT files)
set(all "")
foreach(f IN LISTS files)
  file(SHA256 "${f}" h)
  string(APPEND all "${h}")
endforeach()
string(SHA256 digest "${all}")
string(SUBSTRING "${digest}" 0 16 digest)
set(text "#define ${NAME} \"${digest}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()
