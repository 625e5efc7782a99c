# Finds every dependency. Where each comes from is documented in docs/decisions.md;
# scripts/setup.sh installs them (apt packages + the git-ignored .deps/ folder).

find_package(Threads REQUIRED)
# OpenCV: only core, imgproc and imgcodecs (Debian's split -dev packages, which carry
# no CMake config; libopencv-dev would pull in the whole GUI/video stack).
find_path(ORCHARD_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
add_library(orchard_opencv INTERFACE)
target_include_directories(orchard_opencv SYSTEM INTERFACE "${ORCHARD_OPENCV_INCLUDE_DIR}")
foreach(_cv_module core imgproc imgcodecs)
  find_library(ORCHARD_OPENCV_${_cv_module}_LIB opencv_${_cv_module} REQUIRED)
  target_link_libraries(orchard_opencv INTERFACE "${ORCHARD_OPENCV_${_cv_module}_LIB}")
endforeach()
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
# BLAS (dsyrk) and LAPACK (dsyevd) for PCA at scale: Debian's OpenBLAS + LAPACKE.
find_path(ORCHARD_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES x86_64-linux-gnu aarch64-linux-gnu openblas REQUIRED)
find_path(ORCHARD_LAPACKE_INCLUDE_DIR lapacke.h REQUIRED)
find_library(ORCHARD_BLAS_LIB NAMES openblas blas REQUIRED)
find_library(ORCHARD_LAPACKE_LIB lapacke REQUIRED)
# L-BFGS for the classifier (orchard train): LBFGS++, header-only, Debian liblbfgspp-dev.
find_path(ORCHARD_LBFGSPP_INCLUDE_DIR LBFGS.h REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
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
