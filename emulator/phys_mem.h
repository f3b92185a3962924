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
#include "emulator/smp.h"

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

    // Unchecked reads for hot paths whose callers have already validated the range.
    const uint8_t* ptr(PhysAddr pa) const { return base_ + pa.value; }
    const uint8_t* frame(Pfn pfn) const { return base_ + (pfn.value << PAGE_SHIFT); }
    // Unchecked writes: the bytes at `pa`, for a writer that calls written() on every frame it
    // changed once its bytes have landed.
    uint8_t* bytes_for_write(PhysAddr pa) { return base_ + pa.value; }

    // Each frame's write generation (host speed only; no emulated state): a count that every
    // write of a frame's bytes advances after the bytes land, so a reader that read the
    // generation before reading the bytes and finds it unchanged later knows the bytes are the
    // same (KSM's scan keeps a page's checksum while it holds). Never-written frames are at 0.
    // Paging-structure entries (store_entry, cas_entry) do not count: those frames are no user
    // pages, and a frame that leaves that use is zeroed or copied over, which counts, before it
    // maps into a process. In the concurrent mode the count is a locked add, so no write is lost.
    uint64_t write_generation(Pfn pfn) const {
        return std::atomic_ref<uint64_t>(gen_[pfn.value]).load(std::memory_order_acquire);
    }
    void written(Pfn pfn) {
        if (Smp::concurrent_here())
            std::atomic_ref<uint64_t>(gen_[pfn.value]).fetch_add(1, std::memory_order_release);
        else
            gen_[pfn.value]++;
    }
    // written() for every frame that [pa, pa + len) touches (len > 0).
    void written(PhysAddr pa, uint64_t len) {
        const uint64_t last = (pa.value + len - 1) >> PAGE_SHIFT;
        for (uint64_t f = pa.value >> PAGE_SHIFT; f <= last; f++) written(Pfn{f});
    }

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
    void clear_frame(Pfn pfn) {
        std::memset(bytes_for_write(pfn_phys(pfn)), 0, PAGE_SIZE);
        written(pfn);
    }

private:
    template <class T> std::atomic_ref<T> word(uint64_t pa) const {
        return std::atomic_ref<T>(*reinterpret_cast<T*>(base_ + pa));
    }
    void check(PhysAddr pa, uint64_t len) const;
    uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
    uint64_t* gen_ = nullptr; // nr_frames() write generations, lazily backed
};

} // namespace mmemu
