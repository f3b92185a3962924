// The run's shadow memory: the invariant checker's model of the bytes of every address space,
// kept apart from the kernel's page tables and frames and driven only by the events and their
// system calls' results. It predicts every byte a process may read (docs/scenario-format.md,
// "The invariant checker"):
//  - private anonymous memory reads zeros until written; fork gives the child a copy of the
//    parent's bytes, except MADV_DONTFORK ranges (absent in the child) and MADV_WIPEONFORK ones
//    (zeros); MADV_DONTNEED zeroes private memory and MADV_FREE keeps it (mmemu has no
//    reclaim); munmap forgets; mremap moves, and what it adds reads zeros; brk grows and shrinks
//    the heap; a grows-down mapping extends under an access the kernel let through;
//  - shared anonymous memory is one object per mmap, seen through every mapping of it in every
//    process (fork and mremap keep the object); MADV_DONTNEED does not change it;
//  - spawn and exec: the new image, as loaded, is read once from the frames (the loader's
//    contents are an input); from then on every byte is predicted.
// A system call that fails part way, after Linux may have acted on part of its range (madvise
// stopping at a locked VMA, MAP_FIXED or MREMAP_FIXED that unmapped before failing), leaves the
// range's bytes unknown: they are not checked until the range is mapped again.
//
// Private pages are shared between a parent's and a child's shadow until one writes (copy on
// write in the shadow too), so a fork costs a pointer per written page; a page the shadow holds
// costs 4 KiB plus its map node, reported apart from mmemu's own memory (bench/README.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "mmcore/kernel_atomic.h"

namespace mmemu {

class AddressSpaces;
class PhysicalMemory;
struct mm_struct;

class ShadowMemory {
public:
    // spawn / exec: a fresh image in mm, its mappings and bytes read from the kernel's VMAs and
    // frames (replacing any shadow a dead mm at the same address left).
    void new_image(const mm_struct* mm, const AddressSpaces& as, const PhysicalMemory& ram);
    // fork: the child's address space is the parent's copy.
    void fork(const mm_struct* parent, const mm_struct* child);
    // A successful mmap of [addr, addr + len) (len page aligned), private or shared.
    void mmap(const mm_struct* mm, uint64_t addr, uint64_t len, bool shared, bool growsdown);
    void munmap(const mm_struct* mm, uint64_t addr, uint64_t len);
    // A system call that may have acted on part of [addr, addr + len): its bytes are unknown.
    void unknown(const mm_struct* mm, uint64_t addr, uint64_t len);
    // brk moved the heap's page-aligned end from old_end to new_end.
    void brk(const mm_struct* mm, uint64_t old_end, uint64_t new_end);
    // madvise(advice) of [addr, addr + len) returned `err` (0 or a negative errno).
    void madvise(const mm_struct* mm, uint64_t addr, uint64_t len, int advice, int err);
    // A successful mremap of [addr, addr + old_len) to `to` with new_len (flags MREMAP_*).
    void mremap(const mm_struct* mm, uint64_t addr, uint64_t old_len, uint64_t to, uint64_t new_len,
                unsigned flags);

    // An access the CPU completed, within one page. Returns "" or what is wrong: a read that
    // differs from the prediction, or an access where the shadow has nothing mapped.
    std::string write(const mm_struct* mm, uint64_t addr, const uint8_t* data, uint64_t len);
    std::string fill(const mm_struct* mm, uint64_t addr, uint8_t byte, uint64_t len);
    std::string check_read(const mm_struct* mm, uint64_t addr, const uint8_t* data, uint64_t len);

    // Every present page of every live address space against the prediction; forgets the
    // shadows of address spaces that are gone. Returns "" or the first difference.
    std::string check_frames(const AddressSpaces& as, const PhysicalMemory& ram);

    // What it has checked: bytes of reads, and pages of frames at checkpoints.
    uint64_t bytes_checked() const { return bytes_checked_; }
    uint64_t frames_checked() const { return frames_checked_; }

    // Host memory the shadow's pages hold: 4 KiB for each distinct page with its own bytes.
    uint64_t page_bytes() const;

private:
    // A page's bytes: `b` when they differ, else every byte `uniform` (a fill costs no 4 KiB).
    struct Page {
        uint8_t uniform = 0;
        std::unique_ptr<uint8_t[]> b;
        Page() = default;
        explicit Page(uint8_t u) : uniform(u) {}
        Page(const Page& o) : uniform(o.uniform) {
            if (o.b) b = copy_of(o.b.get());
        }
        static std::unique_ptr<uint8_t[]> copy_of(const uint8_t* src);
        uint8_t* bytes(); // b, made from `uniform` if it is not there yet
    };
    using PagePtr = std::shared_ptr<Page>;
    // A shared anonymous object: its size and the pages written (absent: zeros).
    struct Object {
        uint64_t pages = 0;
        std::unordered_map<uint64_t, PagePtr> data;
    };
    // A mapped range [start, end): private (obj null) or a window on an object from page pgoff.
    struct Range {
        uint64_t end = 0;
        std::shared_ptr<Object> obj;
        uint64_t pgoff = 0;
        bool dontfork = false, wipeonfork = false, growsdown = false, unknown = false;
    };
    struct Space {
        std::map<uint64_t, Range> ranges; // by start
        std::map<uint64_t, PagePtr> priv; // private pages written, by virtual page number
    };
    // Where a page's bytes live: nullptr for a range whose bytes are unknown.
    struct Slot {
        Range* range = nullptr;
        PagePtr* page = nullptr; // nullptr: zeros so far
    };

    Space* space(const mm_struct* mm);
    // Splits the range holding `a` (if any) so that a range starts at a.
    static void split(Space& s, uint64_t a);
    static void unmap(Space& s, uint64_t a, uint64_t end);
    // The range holding `a`, extending a grows-down range down to a's page; nullptr if none.
    static Range* find(Space& s, uint64_t a, std::string& err);
    // The page holding `a`, created (zeros) or unshared for a write; a read slot's page is
    // nullptr when the prediction is zeros.
    Slot slot(Space& s, uint64_t a, bool for_write, std::string& err);
    static std::string compare(const uint8_t* got, const Page* want, uint64_t addr, uint64_t len);

    // The concurrent mode: the threads of one process write one Space from different CPUs, and
    // processes on different CPUs share objects; each call that an on-CPU event makes holds
    // lock_ (the deterministic mode takes none). Events that run alone need none.
    std::unique_lock<std::mutex> locked() const;
    mutable std::mutex lock_;
    std::unordered_map<const mm_struct*, Space> spaces_;
    // (Atomic: in the concurrent mode every vCPU thread checks its process's reads.)
    katomic_u64 bytes_checked_ = 0, frames_checked_ = 0;
};

} // namespace mmemu
