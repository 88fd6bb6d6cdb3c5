# Every dependency comes from a Debian package installed by scripts/setup.sh.

find_package(OpenMP REQUIRED)
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(ZLIB REQUIRED)
find_package(ICU REQUIRED COMPONENTS uc)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SentencePiece REQUIRED IMPORTED_TARGET sentencepiece)
pkg_check_modules(Zstd REQUIRED IMPORTED_TARGET libzstd)

# OpenBLAS, OpenMP flavour: the default pthread flavour would start its own threads beside
# ours and oversubscribe the cores. Debian ships the OpenMP build without a linker symlink,
# so it is linked by path and found at run time through the RUNPATH set below.
set(STRUCTSEQ_OPENBLAS_DIR /usr/lib/x86_64-linux-gnu/openblas-openmp
    CACHE PATH "Folder holding the OpenMP build of OpenBLAS (libopenblas.so.0)")
find_file(STRUCTSEQ_OPENBLAS_LIBRARY NAMES libopenblas.so.0 libopenblas.so
          PATHS ${STRUCTSEQ_OPENBLAS_DIR} NO_DEFAULT_PATH REQUIRED)
find_path(STRUCTSEQ_CBLAS_INCLUDE_DIR NAMES cblas.h
          PATHS /usr/include/x86_64-linux-gnu /usr/include/openblas REQUIRED)
add_library(structseq_openblas INTERFACE)
target_link_libraries(structseq_openblas INTERFACE ${STRUCTSEQ_OPENBLAS_LIBRARY})
target_include_directories(structseq_openblas SYSTEM INTERFACE ${STRUCTSEQ_CBLAS_INCLUDE_DIR})
list(APPEND CMAKE_BUILD_RPATH ${STRUCTSEQ_OPENBLAS_DIR})
list(APPEND CMAKE_INSTALL_RPATH ${STRUCTSEQ_OPENBLAS_DIR})
