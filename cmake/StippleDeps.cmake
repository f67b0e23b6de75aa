# Every third-party dependency, found once. All come from Debian packages installed by
# scripts/install-deps.sh.
find_package(Threads REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED)
# Boost 1.81's own CMake package (CMake 3.25's FindBoost predates it).
find_package(Boost 1.81 REQUIRED COMPONENTS json CONFIG)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
# libspng for PNG (the engine's outputs and previews, PNG image inputs), libjpeg-turbo and libwebp
# for JPEG and WebP image inputs (src/imaging).
find_package(PkgConfig REQUIRED)
pkg_check_modules(SPNG REQUIRED IMPORTED_TARGET spng)
pkg_check_modules(JPEG REQUIRED IMPORTED_TARGET libjpeg)
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp)
# libyaml for the LDM inference yaml beside a single-file checkpoint (A1111's NAME.yaml).
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)
# ICU's common library for Unicode data (categories, White_Space, lower-casing) in the CLIP
# tokenizer.
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc)
# libtorch (Debian's CPU build, or the official CUDA build on GPU hosts). Its imported target
# `torch` carries its compile flags; only src/engine/torch links it, so only those files pay for
# its headers.
# The fuzzing build (STIPPLE_FUZZ) leaves the torch engine out.
if(NOT STIPPLE_FUZZ)
  find_package(Torch REQUIRED)
endif()
# Official libtorch builds (the CUDA zip, PyTorch's wheels) are made with a toolchain that leaves
# some std::filesystem functions exported from libtorch.so, broken for outside callers. Naming
# libstdc++ first makes the dynamic linker take every std:: symbol from libstdc++ itself
# (without this, std::filesystem::remove_all in our programs jumped to a null pointer).
string(APPEND CMAKE_EXE_LINKER_FLAGS " -Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state")
