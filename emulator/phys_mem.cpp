#include "emulator/phys_mem.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "emulator/host_memory.h"

namespace mmemu {

PhysicalMemory::PhysicalMemory(uint64_t bytes) : size_(bytes) {
    base_ = static_cast<uint8_t*>(reserve_lazy_host_memory(bytes, "emulated RAM"));
    try {
        gen_ = static_cast<uint64_t*>(reserve_lazy_host_memory(
            std::max<uint64_t>(nr_frames(), 1) * sizeof(uint64_t), "frame write generations"));
    } catch (...) {
        release_lazy_host_memory(base_, size_);
        throw;
    }
}

PhysicalMemory::~PhysicalMemory() {
    release_lazy_host_memory(base_, size_);
    release_lazy_host_memory(gen_, std::max<uint64_t>(nr_frames(), 1) * sizeof(uint64_t));
}

void PhysicalMemory::check(PhysAddr pa, uint64_t len) const {
    if (!contains(pa, len))
        throw std::out_of_range("physical access [" + std::to_string(pa.value) + ", +" +
                                std::to_string(len) + ") is beyond emulated RAM of " +
                                std::to_string(size_) + " bytes");
}

void PhysicalMemory::read(PhysAddr pa, void* dst, size_t len) const {
    check(pa, len);
    std::memcpy(dst, ptr(pa), len);
}

void PhysicalMemory::write(PhysAddr pa, const void* src, size_t len) {
    check(pa, len);
    if (len == 0) return;
    std::memcpy(bytes_for_write(pa), src, len);
    written(pa, len);
}

void PhysicalMemory::fill(PhysAddr pa, uint8_t byte, size_t len) {
    check(pa, len);
    if (len == 0) return;
    std::memset(bytes_for_write(pa), byte, len);
    written(pa, len);
}

uint32_t PhysicalMemory::read_u32(PhysAddr pa) const {
    uint32_t v;
    read(pa, &v, sizeof v);
    return v;
}

uint64_t PhysicalMemory::read_u64(PhysAddr pa) const {
    uint64_t v;
    read(pa, &v, sizeof v);
    return v;
}

void PhysicalMemory::write_u32(PhysAddr pa, uint32_t v) {
    write(pa, &v, sizeof v);
}
void PhysicalMemory::write_u64(PhysAddr pa, uint64_t v) {
    write(pa, &v, sizeof v);
}

} // namespace mmemu
