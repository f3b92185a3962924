#include "emulator/phys_mem.h"

#include <stdexcept>
#include <string>

#include "emulator/host_memory.h"

namespace mmemu {

PhysicalMemory::PhysicalMemory(uint64_t bytes) : size_(bytes) {
    base_ = static_cast<uint8_t*>(reserve_lazy_host_memory(bytes, "emulated RAM"));
}

PhysicalMemory::~PhysicalMemory() {
    release_lazy_host_memory(base_, size_);
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
    std::memcpy(ptr(pa), src, len);
}

void PhysicalMemory::fill(PhysAddr pa, uint8_t byte, size_t len) {
    check(pa, len);
    std::memset(ptr(pa), byte, len);
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
