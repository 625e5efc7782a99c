// Portable (wheel) builds only (ORCHARD_PORTABLE=ON): stand-ins that let the static
// libopencv_core.a link without the libraries its unused parts reference.
//
// * Thread pool. OpenCV's parallel.cpp drives a TBB thread pool, and Debian ships no
//   static TBB. orchard runs OpenCV serially anyway (decode.cc calls cv::setNumThreads(1);
//   the pipeline parallelises across images), so these definitions of parallel.cpp's
//   public functions run every parallel_for_ body in the calling thread. With all of them
//   defined here the linker never pulls parallel.cpp.o (nor TBB) from the archive.
// * libjpeg's and libpng's `stderr`. Our copies of their archives name
//   orchard_static_stderr instead (see cmake/OrchardDependencies.cmake); only their
//   default message printers, which orchard replaces, read it.
// * arc4random. The static libstdc++ of GCC 12 built on glibc 2.36 implements
//   std::random_device with arc4random (GLIBC_2.36); FAISS (the index) pulls it in, which
//   would raise the wheel above manylinux_2_34. This definition (getrandom, glibc 2.25)
//   is linked instead of libc's.
// * OpenGL. cv::_InputArray's generic code references cv::ogl::Buffer, whose loader asks
//   GLX for function pointers. orchard never passes OpenGL buffers; these GLX entry points
//   report "no OpenGL" (null), which OpenCV turns into an error, never a call.
#include <sys/random.h>

#include <cstdint>
#include <cstdio>
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>

namespace cv {

ParallelLoopBody::~ParallelLoopBody() = default;

void parallel_for_(const Range& range, const ParallelLoopBody& body, double /*nstripes*/) {
  if (!range.empty()) body(range);
}

void setNumThreads(int /*nthreads*/) {}
int getNumThreads() { return 1; }
int getThreadNum() { return 0; }
int getNumberOfCPUs() { return 1; }
int defaultNumberOfThreads() { return 1; }
const char* currentParallelFramework() { return nullptr; }

}  // namespace cv

extern "C" {
__attribute__((visibility("hidden"))) FILE* orchard_static_stderr = stderr;

uint32_t arc4random() noexcept {
  uint32_t value = 0;
  // getrandom of 4 bytes from the urandom pool never returns short once it is seeded;
  // retried on EINTR.
  while (getrandom(&value, sizeof(value), 0) != static_cast<ssize_t>(sizeof(value))) {
  }
  return value;
}

// OpenCV's C API (core_c.h), also defined in parallel.cpp.
int cvGetNumThreads() { return 1; }
int cvGetThreadNum() { return 0; }
void cvSetNumThreads(int /*threads*/) {}

void* glXGetProcAddressARB(const unsigned char* /*name*/) { return nullptr; }
void* glXGetCurrentDisplay() { return nullptr; }
void* glXGetCurrentContext() { return nullptr; }
}
