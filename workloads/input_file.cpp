#include "workloads/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mmemu {

bool read_input_file(const std::string& path, uint64_t max_bytes, const std::string& what,
                     const std::string& hint, std::string& text, std::string& error) {
    // Open without blocking (a FIFO with no writer would wait forever), then refuse anything
    // that is not a regular file before reading a byte.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        error = "cannot open the " + what + " file: " + std::strerror(errno);
        return false;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        error = "cannot read the " + what + " file: " + std::strerror(errno);
        ::close(fd);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        error = "the " + what + " is not a regular file (it is " +
                (S_ISDIR(st.st_mode)    ? "a directory"
                 : S_ISCHR(st.st_mode)  ? "a character device"
                 : S_ISBLK(st.st_mode)  ? "a block device"
                 : S_ISFIFO(st.st_mode) ? "a pipe"
                 : S_ISSOCK(st.st_mode) ? "a socket"
                                        : "not a file") +
                "); give the path of a .json file";
        ::close(fd);
        return false;
    }
    if (uint64_t(st.st_size) > max_bytes) {
        error = "the " + what + " file is " + std::to_string(st.st_size) + " bytes; mmemu reads " +
                what + " files of at most " + std::to_string(max_bytes >> 20) + " MiB (" + hint +
                ")";
        ::close(fd);
        return false;
    }
    text.clear();
    char buf[65536];
    while (true) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = "cannot read the " + what + " file: " + std::strerror(errno);
            ::close(fd);
            return false;
        }
        if (n == 0) break;
        text.append(buf, size_t(n));
        if (text.size() > max_bytes) { // the file grew while it was read
            error =
                "the " + what + " file is larger than " + std::to_string(max_bytes >> 20) + " MiB";
            ::close(fd);
            return false;
        }
    }
    ::close(fd);
    return true;
}

} // namespace mmemu
