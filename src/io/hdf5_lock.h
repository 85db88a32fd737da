#pragma once
// Debian's HDF5 is built without thread safety: every call into the library, whatever the file, holds
// this one lock (a worker process reads the activation cache through several handles at once).

#include <mutex>

namespace adaflow::io {

std::mutex& Hdf5Mutex();

}  // namespace adaflow::io
