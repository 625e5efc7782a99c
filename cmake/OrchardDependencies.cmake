# Finds every dependency. Where each comes from is documented in docs/decisions.md;
# scripts/setup.sh installs them (apt packages + the git-ignored .deps/ folder).

find_package(Threads REQUIRED)

# ORCHARD_PORTABLE (the wheel): OpenCV, the image codecs, BLAS/LAPACK and OpenSSL are
# linked from their static archives (and the C++ runtime statically, see below), so that
# the only shared libraries needed are glibc's, libgcc_s and those of pyarrow and
# onnxruntime. Otherwise the system's shared libraries are used.
# orchard_find_library(VAR NAME): lib<NAME>.a when portable, lib<NAME>.so otherwise.
function(orchard_find_library var name)
  if(ORCHARD_PORTABLE)
    find_library(${var} NAMES lib${name}.a REQUIRED)
  else()
    find_library(${var} NAMES ${name} REQUIRED)
  endif()
endfunction()
# Static archives that ship with the compiler (libgfortran.a, libquadmath.a).
function(orchard_find_compiler_archive var name)
  execute_process(COMMAND "${CMAKE_CXX_COMPILER}" -print-file-name=${name}
                  OUTPUT_VARIABLE _path OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT IS_ABSOLUTE "${_path}" OR NOT EXISTS "${_path}")
    message(FATAL_ERROR "${name} not found (ORCHARD_PORTABLE): run scripts/setup.sh")
  endif()
  set(${var} "${_path}" PARENT_SCOPE)
endfunction()
if(ORCHARD_PORTABLE AND ORCHARD_BUILD_TESTS)
  message(FATAL_ERROR "ORCHARD_PORTABLE=ON is for the wheel: configure with ORCHARD_BUILD_TESTS=OFF "
                      "(the tests use OpenCV's shared imgcodecs to make their inputs)")
endif()

# OpenCV: core and imgproc only, for the resize (Debian's split -dev packages, which carry
# no CMake config; libopencv-dev would pull in the whole GUI/video stack). Images are
# decoded by the codec libraries below, not by imgcodecs.
find_path(ORCHARD_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
orchard_find_library(ORCHARD_OPENCV_imgproc_LIB opencv_imgproc)
orchard_find_library(ORCHARD_OPENCV_core_LIB opencv_core)
orchard_find_library(ORCHARD_ZLIB_LIB z)
add_library(orchard_opencv INTERFACE)
target_include_directories(orchard_opencv SYSTEM INTERFACE "${ORCHARD_OPENCV_INCLUDE_DIR}")
target_link_libraries(orchard_opencv INTERFACE "${ORCHARD_OPENCV_imgproc_LIB}"
                      "${ORCHARD_OPENCV_core_LIB}" "${ORCHARD_ZLIB_LIB}" ${CMAKE_DL_LIBS})
# The tests make their inputs with cv::imencode and compare with cv::imdecode.
if(ORCHARD_BUILD_TESTS OR ORCHARD_BUILD_FUZZERS)
  find_library(ORCHARD_OPENCV_imgcodecs_LIB opencv_imgcodecs REQUIRED)
  add_library(orchard_opencv_imgcodecs INTERFACE)
  target_link_libraries(orchard_opencv_imgcodecs INTERFACE orchard_opencv
                        "${ORCHARD_OPENCV_imgcodecs_LIB}")
endif()

# Image codecs: libjpeg-turbo, libpng, libwebp (Debian's -dev packages).
find_path(ORCHARD_JPEG_INCLUDE_DIR jpeglib.h REQUIRED)
find_path(ORCHARD_PNG_INCLUDE_DIR png.h REQUIRED)
find_path(ORCHARD_WEBP_INCLUDE_DIR webp/decode.h REQUIRED)
orchard_find_library(ORCHARD_JPEG_LIB jpeg)
orchard_find_library(ORCHARD_PNG_LIB png16)
orchard_find_library(ORCHARD_WEBP_LIB webp)
if(ORCHARD_PORTABLE)
  # Debian's libjpeg.a and libpng16.a are position-dependent where they name glibc's
  # `stderr` (their default message printers, which orchard replaces and never calls),
  # and a shared object cannot hold that relocation. Copies with that one reference renamed
  # to a hidden variable of ours (orchard_static_stderr, util/portable_shims.cc) link.
  file(MAKE_DIRECTORY "${CMAKE_BINARY_DIR}/portable-deps")
  foreach(_var ORCHARD_JPEG_LIB ORCHARD_PNG_LIB)
    get_filename_component(_name "${${_var}}" NAME)
    set(_copy "${CMAKE_BINARY_DIR}/portable-deps/${_name}")
    execute_process(COMMAND "${CMAKE_OBJCOPY}" --redefine-sym stderr=orchard_static_stderr
                            "${${_var}}" "${_copy}" RESULT_VARIABLE _objcopy_rc)
    if(NOT _objcopy_rc EQUAL 0)
      message(FATAL_ERROR "objcopy of ${${_var}} failed")
    endif()
    set(${_var} "${_copy}")
  endforeach()
endif()
add_library(orchard_codecs INTERFACE)
target_include_directories(orchard_codecs SYSTEM INTERFACE "${ORCHARD_JPEG_INCLUDE_DIR}"
                           "${ORCHARD_PNG_INCLUDE_DIR}" "${ORCHARD_WEBP_INCLUDE_DIR}")
target_link_libraries(orchard_codecs INTERFACE "${ORCHARD_JPEG_LIB}" "${ORCHARD_PNG_LIB}"
                      "${ORCHARD_WEBP_LIB}" "${ORCHARD_ZLIB_LIB}" m Threads::Threads)

# libarchive (Debian libarchive-dev) reads WebDataset tar shards (pipeline/tar_shards.cc).
# Portable builds link Debian's libarchive.a: orchard calls only its tar reader, whose
# objects need nothing but glibc, so none of the compression and ACL libraries that
# `pkg-config --static libarchive` lists is pulled in. Do not call its writers: their
# format table pulls in all of them (docs/decisions.md, "Manifest and tar inputs").
find_path(ORCHARD_ARCHIVE_INCLUDE_DIR archive.h REQUIRED)
orchard_find_library(ORCHARD_ARCHIVE_LIB archive)
add_library(orchard_libarchive INTERFACE)
target_include_directories(orchard_libarchive SYSTEM INTERFACE "${ORCHARD_ARCHIVE_INCLUDE_DIR}")
target_link_libraries(orchard_libarchive INTERFACE "${ORCHARD_ARCHIVE_LIB}")

find_package(Eigen3 3.3 REQUIRED NO_MODULE)
# BLAS (dsyrk) and LAPACK (dsyevd) for PCA at scale: Debian's OpenBLAS + LAPACKE. The
# static libopenblas.a carries LAPACK too, compiled from Fortran: it needs libgfortran
# and libquadmath.
find_path(ORCHARD_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES x86_64-linux-gnu aarch64-linux-gnu openblas REQUIRED)
find_path(ORCHARD_LAPACKE_INCLUDE_DIR lapacke.h REQUIRED)
if(ORCHARD_PORTABLE)
  find_library(ORCHARD_BLAS_LIB NAMES libopenblas.a REQUIRED)
  orchard_find_compiler_archive(ORCHARD_GFORTRAN_LIB libgfortran.a)
  orchard_find_compiler_archive(ORCHARD_QUADMATH_LIB libquadmath.a)
  set(ORCHARD_BLAS_LIBS "${ORCHARD_BLAS_LIB}" "${ORCHARD_GFORTRAN_LIB}" "${ORCHARD_QUADMATH_LIB}"
      m Threads::Threads)
else()
  find_library(ORCHARD_BLAS_LIB NAMES openblas blas REQUIRED)
  set(ORCHARD_BLAS_LIBS "${ORCHARD_BLAS_LIB}")
endif()
orchard_find_library(ORCHARD_LAPACKE_LIB lapacke)
# The nearest-neighbour index (orchard index/search/dedup): FAISS, Debian libfaiss-dev,
# which ships only the static (PIC) libfaiss.a, so it is linked into every binary, the
# wheel included. It needs BLAS + LAPACK (OpenBLAS above) and OpenMP: the shared libgomp,
# or, in the portable wheel, the serial stand-ins of util/portable_shims.cc.
find_path(ORCHARD_FAISS_INCLUDE_DIR faiss/IndexIVFPQ.h REQUIRED)
find_library(ORCHARD_FAISS_LIB NAMES libfaiss.a faiss REQUIRED)
find_package(OpenMP COMPONENTS CXX)
if(NOT OpenMP_CXX_FOUND AND NOT ORCHARD_PORTABLE)
  # Clang without its libomp (the fuzz build): libfaiss.a was compiled by GCC and calls
  # GOMP_*, which GCC's own runtime provides; link that one.
  execute_process(COMMAND gcc -print-file-name=libgomp.so OUTPUT_VARIABLE _orchard_gomp
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _orchard_gomp_rc)
  if(NOT _orchard_gomp_rc EQUAL 0 OR NOT EXISTS "${_orchard_gomp}")
    message(FATAL_ERROR "OpenMP not found for ${CMAKE_CXX_COMPILER} and no GCC libgomp: "
                        "install libgomp1 (or libomp-dev for clang)")
  endif()
  add_library(OpenMP::OpenMP_CXX INTERFACE IMPORTED)
  target_link_libraries(OpenMP::OpenMP_CXX INTERFACE "${_orchard_gomp}" Threads::Threads)
endif()
add_library(orchard_faiss INTERFACE)
target_include_directories(orchard_faiss SYSTEM INTERFACE "${ORCHARD_FAISS_INCLUDE_DIR}")
if(ORCHARD_PORTABLE)
  # No OpenMP runtime in the wheel: the compiler's libgomp.a uses local-exec TLS, which a
  # shared object (the extension) cannot hold, and check-wheel.sh allows no grafted
  # library. util/portable_shims.cc defines the GOMP_*/omp_* entry points FAISS calls as a
  # serial runtime (one thread), so the wheel's index runs single-threaded.
  target_link_libraries(orchard_faiss INTERFACE "${ORCHARD_FAISS_LIB}" ${ORCHARD_BLAS_LIBS}
                        Threads::Threads)
else()
  target_link_libraries(orchard_faiss INTERFACE "${ORCHARD_FAISS_LIB}" OpenMP::OpenMP_CXX
                        ${ORCHARD_BLAS_LIBS})
endif()
# L-BFGS for the classifier (orchard train): LBFGS++, header-only, Debian liblbfgspp-dev.
find_path(ORCHARD_LBFGSPP_INCLUDE_DIR LBFGS.h REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
if(ORCHARD_PORTABLE)
  set(OPENSSL_USE_STATIC_LIBS TRUE)
endif()
find_package(OpenSSL REQUIRED COMPONENTS Crypto)

# --- Python of the project environment (pyarrow lives there) -------------------------
if(NOT Python3_EXECUTABLE AND EXISTS "${ORCHARD_DEPS_DIR}/venv/bin/python")
  set(Python3_EXECUTABLE "${ORCHARD_DEPS_DIR}/venv/bin/python")
endif()
find_package(Python3 REQUIRED COMPONENTS Interpreter)

# --- Apache Arrow C++ + Parquet, from the pyarrow wheel ------------------------------
# The wheel ships headers and shared libraries (S3 included). We link them directly and
# set an rpath to the wheel's folder, so nothing is copied or installed system-wide.
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c
          "import pyarrow as pa; print(pa.get_include()); print(pa.get_library_dirs()[0]); print(pa.__version__)"
  OUTPUT_VARIABLE _pa_out RESULT_VARIABLE _pa_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _pa_rc EQUAL 0)
  message(FATAL_ERROR "pyarrow not found for ${Python3_EXECUTABLE}: run scripts/setup.sh first")
endif()
string(REPLACE "\n" ";" _pa_lines "${_pa_out}")
list(GET _pa_lines 0 ORCHARD_ARROW_INCLUDE_DIR)
list(GET _pa_lines 1 ORCHARD_ARROW_LIB_DIR)
list(GET _pa_lines 2 ORCHARD_ARROW_VERSION)
find_library(ORCHARD_ARROW_LIB arrow PATHS "${ORCHARD_ARROW_LIB_DIR}" NO_DEFAULT_PATH REQUIRED)
find_library(ORCHARD_PARQUET_LIB parquet PATHS "${ORCHARD_ARROW_LIB_DIR}" NO_DEFAULT_PATH REQUIRED)
add_library(orchard_arrow INTERFACE)
target_include_directories(orchard_arrow SYSTEM INTERFACE "${ORCHARD_ARROW_INCLUDE_DIR}")
target_link_libraries(orchard_arrow INTERFACE "${ORCHARD_PARQUET_LIB}" "${ORCHARD_ARROW_LIB}")
# The wheel is built with the C++11 ABI (nm -C libarrow.so shows __cxx11 symbols).
target_compile_definitions(orchard_arrow INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
message(STATUS "Arrow C++ ${ORCHARD_ARROW_VERSION} from the pyarrow wheel: ${ORCHARD_ARROW_LIB_DIR}")

# --- ONNX Runtime C API ---------------------------------------------------------------
set(ORCHARD_ORT_DIR "${ORCHARD_DEPS_DIR}/onnxruntime" CACHE PATH "ONNX Runtime include/ + lib/")
find_path(ORCHARD_ORT_INCLUDE_DIR onnxruntime_c_api.h PATHS "${ORCHARD_ORT_DIR}/include" NO_DEFAULT_PATH REQUIRED)
find_library(ORCHARD_ORT_LIB onnxruntime PATHS "${ORCHARD_ORT_DIR}/lib" NO_DEFAULT_PATH REQUIRED)
add_library(orchard_onnxruntime INTERFACE)
target_include_directories(orchard_onnxruntime SYSTEM INTERFACE "${ORCHARD_ORT_INCLUDE_DIR}")
target_link_libraries(orchard_onnxruntime INTERFACE "${ORCHARD_ORT_LIB}")
get_filename_component(ORCHARD_ORT_LIB_REAL "${ORCHARD_ORT_LIB}" REALPATH)
get_filename_component(ORCHARD_ORT_LIB_DIR "${ORCHARD_ORT_LIB_REAL}" DIRECTORY)

# Executables find the wheels' libraries through their rpath.
set(CMAKE_BUILD_RPATH "${ORCHARD_ARROW_LIB_DIR};${ORCHARD_ORT_DIR}/lib")
set(CMAKE_INSTALL_RPATH "${ORCHARD_ARROW_LIB_DIR};${ORCHARD_ORT_DIR}/lib")
