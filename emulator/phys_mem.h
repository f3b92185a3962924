// Emulated physical RAM: real bytes, backed lazily. The whole range is one anonymous
// MAP_NORESERVE mapping, so host memory is spent only on frames that are touched; where the host
// offers transparent huge pages the range is advised MADV_HUGEPAGE so a first touch does not pay
// one host fault per 4 KiB.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "emulator/addr.h"

namespace mmemu {

class PhysicalMemory {
public:
    // Throws std::runtime_error if the host refuses the reservation.
    explicit PhysicalMemory(uint64_t bytes);
    ~PhysicalMemory();
    PhysicalMemory(const PhysicalMemory&) = delete;
    PhysicalMemory& operator=(const PhysicalMemory&) = delete;

    uint64_t size() const { return size_; }
    uint64_t nr_frames() const { return size_ >> PAGE_SHIFT; }
    bool contains(PhysAddr pa, uint64_t len) const {
        return pa.value <= size_ && len <= size_ - pa.value;
    }
    // contains() for a paging-structure entry (len 4 or 8) at an address below 2^52, where the
    // sum cannot wrap.
    bool contains_entry(uint64_t pa, unsigned len) const { return pa + len <= size_; }

    // Unchecked access for hot paths whose callers have already validated the range.
    uint8_t* ptr(PhysAddr pa) { return base_ + pa.value; }
    const uint8_t* ptr(PhysAddr pa) const { return base_ + pa.value; }
    uint8_t* frame(Pfn pfn) { return base_ + (pfn.value << PAGE_SHIFT); }
    const uint8_t* frame(Pfn pfn) const { return base_ + (pfn.value << PAGE_SHIFT); }

    // Range-checked accessors; throw std::out_of_range outside RAM.
    void read(PhysAddr pa, void* dst, size_t len) const;
    void write(PhysAddr pa, const void* src, size_t len);
    void fill(PhysAddr pa, uint8_t byte, size_t len);
    uint32_t read_u32(PhysAddr pa) const;
    uint64_t read_u64(PhysAddr pa) const;
    void write_u32(PhysAddr pa, uint32_t v);
    void write_u64(PhysAddr pa, uint64_t v);

    // Paging-structure entries: naturally aligned words that the CPUs' page walkers and the
    // kernel read and write as single atomic accesses (the kernel's READ_ONCE / WRITE_ONCE of a
    // PTE; the walker's locked update of the accessed and dirty flags, SDM Vol. 3A 4.8), so the
    // concurrent mode's threads never see half an entry. The caller has checked the range. On
    // x86 the loads and stores are plain moves: the deterministic mode pays nothing for them.
    uint64_t load_entry(uint64_t pa, bool wide) const {
        return wide ? word<uint64_t>(pa).load(std::memory_order_acquire)
                    : word<uint32_t>(pa).load(std::memory_order_acquire);
    }
    void store_entry(uint64_t pa, uint64_t v, bool wide) {
        if (wide)
            word<uint64_t>(pa).store(v, std::memory_order_release);
        else
            word<uint32_t>(pa).store(uint32_t(v), std::memory_order_release);
    }
    // Replaces the entry by `desired` if it still holds `expected`; false if it changed.
    bool cas_entry(uint64_t pa, uint64_t expected, uint64_t desired, bool wide) {
        if (wide) return word<uint64_t>(pa).compare_exchange_strong(expected, desired);
        uint32_t e = uint32_t(expected);
        return word<uint32_t>(pa).compare_exchange_strong(e, uint32_t(desired));
    }

    // Zeroes a frame (frames never written read as zero already).
    void clear_frame(Pfn pfn) { std::memset(frame(pfn), 0, PAGE_SIZE); }

private:
    template <class T> std::atomic_ref<T> word(uint64_t pa) const {
        return std::atomic_ref<T>(*reinterpret_cast<T*>(base_ + pa));
    }
    void check(PhysAddr pa, uint64_t len) const;
    uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
};

} // namespace mmemu
