# `cmake --install` (any prefix, any DESTDIR) and `make package` (a Debian package, CPack).
# The installed layout, under the prefix:
#   bin/stipple                          the binary
#   share/stipple/models/shapes-32       the bundled model; the binary looks for it here, relative
#                                        to itself (apps/stipple/model_dir.h), so keep the two
#                                        names in step
#   share/man/man1/stipple.1             the man page, made from the binary's help at build time
#   lib/systemd/system/*.service         the systemd units (deploy/systemd), naming bin/stipple
#   share/doc/stipple/                   README, docs/*.md, examples/ (deploy's env files and
#                                        Kubernetes manifests)
# The web page is compiled into the binary (cmake/EmbedFiles.cmake), so there are no web assets.

add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/stipple.1
  COMMAND ${CMAKE_COMMAND} -DSTIPPLE=$<TARGET_FILE:stipple> -DVERSION=${PROJECT_VERSION}
          -DOUTPUT=${PROJECT_BINARY_DIR}/stipple.1 -P ${PROJECT_SOURCE_DIR}/cmake/ManPage.cmake
  DEPENDS stipple ${PROJECT_SOURCE_DIR}/cmake/ManPage.cmake
  COMMENT "Writing the man page stipple.1 from stipple's help")
add_custom_target(stipple_man ALL DEPENDS ${PROJECT_BINARY_DIR}/stipple.1)

install(TARGETS stipple RUNTIME DESTINATION bin)
# The whole model folder, whatever its format holds, except a training run's checkpoint/.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/shapes-32 DESTINATION share/stipple/models
        PATTERN checkpoint EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/stipple.1 DESTINATION share/man/man1)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/stipple)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION share/doc/stipple)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/gateway.env.example
              ${PROJECT_SOURCE_DIR}/deploy/systemd/worker.env.example
        DESTINATION share/doc/stipple/examples)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/kubernetes DESTINATION share/doc/stipple/examples)
# The units name /usr/bin/stipple (the package's place); another prefix gets its own path,
# decided when installing (CPack installs with the package's prefix, /usr).
install(CODE "set(STIPPLE_UNIT_DIR \"${PROJECT_SOURCE_DIR}/deploy/systemd\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/InstallUnits.cmake)

# make package: stipple_VERSION_amd64.deb. Its Depends are what dpkg-shlibdeps finds the binary
# linked against (libtorch, OpenBLAS, Boost, SQLite, hiredis, curl, …): the binary is the one
# source of truth, no list to keep. Files are stripped, so the package carries no debug info.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME stipple)
set(CPACK_PACKAGE_VENDOR stipple)
set(CPACK_PACKAGE_CONTACT "stipple maintainers <stipple@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "serves text-to-image diffusion models over HTTP")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Install with DESTDIR=<staging> and the prefix /usr (CPACK_INSTALL_PREFIX; without it CPack
# keeps CMAKE_INSTALL_PREFIX, /usr/local), so the units name /usr/bin/stipple.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION graphics)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The one dependency the binary cannot name: libtorch reaches BLAS through the libblas.so.3
# alternative, which any BLAS satisfies; stipple runs (and is measured) on OpenBLAS's OpenMP
# build, the one scripts/install-deps.sh installs.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-openmp")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/package)
include(CPack)
