# Install step: copies the systemd units of STIPPLE_UNIT_DIR into lib/systemd/system under the
# prefix, with /usr/bin/stipple and /usr/share/doc/stipple replaced by the prefix's own paths.
foreach(unit stipple-gateway.service stipple-worker@.service)
  file(READ "${STIPPLE_UNIT_DIR}/${unit}" text)
  string(REPLACE "/usr/bin/stipple" "${CMAKE_INSTALL_PREFIX}/bin/stipple" text "${text}")
  string(REPLACE "/usr/share/doc/stipple" "${CMAKE_INSTALL_PREFIX}/share/doc/stipple" text
                 "${text}")
  set(dest "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
  message(STATUS "Installing: ${dest}/${unit}")
  file(MAKE_DIRECTORY "${dest}")
  file(WRITE "${dest}/${unit}" "${text}")
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${dest}/${unit}")
endforeach()
