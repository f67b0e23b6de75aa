# Every third-party dependency, found once. All come from Debian packages installed by
# scripts/install-deps.sh.
find_package(Threads REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED)
# CMake 3.25's FindBoost predates Boost 1.81 and warns about it; the json component needs no
# dependency information.
set(Boost_NO_WARN_NEW_VERSIONS ON)
find_package(Boost 1.81 EXACT REQUIRED COMPONENTS json)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
