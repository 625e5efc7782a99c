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
// * OpenMP. FAISS (libfaiss.a) calls libgomp, whose static archive cannot go into the
//   extension (local-exec TLS) and which the wheel may not graft: these are a serial
//   OpenMP runtime, one thread, for exactly the entry points FAISS references (`nm -u
//   libfaiss.a`). A parallel region runs its body once in the calling thread; a dynamic
//   loop hands that thread the whole range; critical sections and barriers have nothing
//   to wait for. The wheel's index is therefore single-threaded.
// * OpenGL. cv::_InputArray's generic code references cv::ogl::Buffer, whose loader asks
//   GLX for function pointers. orchard never passes OpenGL buffers; these GLX entry points
//   report "no OpenGL" (null), which OpenCV turns into an error, never a call.
#include <omp.h>
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

// ---- serial OpenMP (GCC's libgomp ABI)
void GOMP_parallel(void (*body)(void*), void* data, unsigned /*num_threads*/, unsigned /*flags*/) {
  body(data);
}
bool GOMP_loop_nonmonotonic_dynamic_start(long start, long end, long increment, long /*chunk*/,
                                          long* first, long* last) {
  *first = start;
  *last = end;
  return increment > 0 ? start < end : start > end;
}
bool GOMP_loop_nonmonotonic_dynamic_next(long* /*first*/, long* /*last*/) { return false; }
void GOMP_loop_end() {}
void GOMP_loop_end_nowait() {}
bool GOMP_single_start() { return true; }
void GOMP_barrier() {}
void GOMP_critical_start() {}
void GOMP_critical_end() {}
void GOMP_atomic_start() {}
void GOMP_atomic_end() {}
int omp_get_max_threads() noexcept { return 1; }
int omp_get_num_threads() noexcept { return 1; }
int omp_get_thread_num() noexcept { return 0; }
int omp_in_parallel() noexcept { return 0; }
void omp_set_num_threads(int /*threads*/) noexcept {}
int omp_get_nested() noexcept { return 0; }
void omp_set_nested(int /*nested*/) noexcept {}
void omp_init_lock(omp_lock_t* /*lock*/) noexcept {}
void omp_destroy_lock(omp_lock_t* /*lock*/) noexcept {}
void omp_set_lock(omp_lock_t* /*lock*/) noexcept {}
void omp_unset_lock(omp_lock_t* /*lock*/) noexcept {}

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
