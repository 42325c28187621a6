#include "nncompress/core/limits.h"

#include <unistd.h>

namespace nncompress {

uint64_t physical_memory_bytes() {
  static const uint64_t bytes = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

}  // namespace nncompress
