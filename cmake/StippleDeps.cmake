# Every third-party dependency, found once. All come from Debian packages installed by
# scripts/install-deps.sh.
find_package(Threads REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED)
# Boost 1.81's own CMake package (CMake 3.25's FindBoost predates it).
find_package(Boost 1.81 REQUIRED COMPONENTS json CONFIG)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
