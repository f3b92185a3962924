// Reading an input file (a scenario, a statistics file to compare) safely: only a regular file
// of bounded size, opened without blocking, so a directory, a device, a FIFO or an endless
// stream is refused with a clear message instead of hanging or exhausting memory.
#pragma once

#include <cstdint>
#include <string>

namespace mmemu {

// Reads `path` into `text`. `what` names the file in messages ("scenario"); `hint` says what to
// do about a file over `max_bytes`. Returns false with `error` set.
bool read_input_file(const std::string& path, uint64_t max_bytes, const std::string& what,
                     const std::string& hint, std::string& text, std::string& error);

} // namespace mmemu
