# The Debian package (`make package`, or `cpack -G DEB` in the build folder): everything that
# cmake/Install.cmake installs, under /usr. dpkg-shlibdeps reads the shared libraries the binary
# links (libjpeg, libavcodec, libssl, ...) and writes them into Depends, so that
#   apt-get install ./build/qwenvl_<version>_<arch>.deb
# pulls in what the program needs at run time (no -dev package).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME qwenvl)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "qwenvl")
# Whoever builds and hands out the package is its maintainer: -DQWENVL_PACKAGE_MAINTAINER="Name <mail>".
set(QWENVL_PACKAGE_MAINTAINER "qwenvl developers" CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${QWENVL_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${QWENVL_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Qwen2.5-VL vision-language models on the CPU")
set(CPACK_PACKAGE_DESCRIPTION
    "A native C++20 inference engine for the Qwen2.5-VL models: the qwenvl command (run, chat, an\
 OpenAI- and ollama-compatible server with a web page, bench), the C++ library with its CMake\
 package, and a small demo checkpoint under /usr/share/qwenvl.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The demo checkpoint is 94 MB of mostly zero rows; zstd packs it quickly (xz: smaller but minutes).
set(CPACK_DEBIAN_COMPRESSION_TYPE zstd)
include(CPack)
