#include "workloads/shadow_memory.h"

#include <sys/mman.h>

#include <cstring>
#include <iterator>
#include <unordered_set>

#include "emulator/phys_mem.h"
#include "emulator/smp.h"
#include "mmcore/address_spaces.h"

namespace mmemu {

namespace {

constexpr uint64_t PG = 4096;

std::string hex_addr(uint64_t a) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(a));
    return buf;
}

// True if all n bytes of p are p[0].
bool uniform_bytes(const uint8_t* p, uint64_t n) {
    return n == 0 || std::memcmp(p, p + 1, n - 1) == 0;
}

} // namespace

std::unique_ptr<uint8_t[]> ShadowMemory::Page::copy_of(const uint8_t* src) {
    auto b = std::make_unique_for_overwrite<uint8_t[]>(PG);
    std::memcpy(b.get(), src, PG);
    return b;
}

uint8_t* ShadowMemory::Page::bytes() {
    if (!b) {
        b = std::make_unique_for_overwrite<uint8_t[]>(PG);
        std::memset(b.get(), uniform, PG);
    }
    return b.get();
}

std::unique_lock<std::mutex> ShadowMemory::locked() const {
    std::unique_lock<std::mutex> l(lock_, std::defer_lock);
    if (Smp::concurrent_here()) l.lock();
    return l;
}

ShadowMemory::Space* ShadowMemory::space(const mm_struct* mm) {
    const auto it = spaces_.find(mm);
    return it == spaces_.end() ? nullptr : &it->second;
}

void ShadowMemory::split(Space& s, uint64_t a) {
    auto it = s.ranges.upper_bound(a);
    if (it == s.ranges.begin()) return;
    --it;
    if (it->first >= a || it->second.end <= a) return;
    Range tail = it->second;
    if (tail.obj) tail.pgoff += (a - it->first) / PG;
    it->second.end = a;
    s.ranges.emplace(a, std::move(tail));
}

void ShadowMemory::unmap(Space& s, uint64_t a, uint64_t end) {
    if (end <= a) return;
    split(s, a);
    split(s, end);
    s.ranges.erase(s.ranges.lower_bound(a), s.ranges.lower_bound(end));
    s.priv.erase(s.priv.lower_bound(a / PG), s.priv.lower_bound(end / PG));
}

ShadowMemory::Range* ShadowMemory::find(Space& s, uint64_t a, std::string& err) {
    auto it = s.ranges.upper_bound(a);
    if (it != s.ranges.begin() && std::prev(it)->second.end > a) return &std::prev(it)->second;
    // Under a grows-down range: the kernel extended it (expand_downwards()) to a's page.
    if (it != s.ranges.end() && it->second.growsdown) {
        const uint64_t start = a & ~(PG - 1);
        Range r = it->second;
        if (r.obj) {
            const uint64_t grown = (it->first - start) / PG;
            if (grown > r.pgoff) {
                err = "the kernel let an access at " + hex_addr(a) +
                      " through, under a shared grows-down mapping that starts its object";
                return nullptr;
            }
            r.pgoff -= grown;
        }
        r.end = it->first;
        return &s.ranges.emplace(start, r).first->second;
    }
    err = "the kernel let an access at " + hex_addr(a) + " through where nothing is mapped";
    return nullptr;
}

ShadowMemory::Slot ShadowMemory::slot(Space& s, uint64_t a, bool for_write, std::string& err) {
    Range* r = find(s, a, err);
    if (!r || r->unknown) return {};
    auto start = s.ranges.upper_bound(a);
    const uint64_t range_start = std::prev(start)->first;
    PagePtr* p = nullptr;
    if (r->obj) {
        const uint64_t index = r->pgoff + (a - range_start) / PG;
        if (index >= r->obj->pages) {
            err = "the kernel let an access at " + hex_addr(a) +
                  " through, beyond the end of its shared object (page " + std::to_string(index) +
                  " of " + std::to_string(r->obj->pages) + ")";
            return {};
        }
        if (for_write) {
            p = &r->obj->data[index];
        } else if (auto it = r->obj->data.find(index); it != r->obj->data.end()) {
            p = &it->second;
        }
    } else if (for_write) {
        p = &s.priv[a / PG];
    } else if (auto it = s.priv.find(a / PG); it != s.priv.end()) {
        p = &it->second;
    }
    if (for_write) {
        if (!*p)
            *p = std::make_shared<Page>();
        else if (p->use_count() > 1)
            *p = std::make_shared<Page>(**p); // the other sharer keeps the old bytes
    }
    return {r, p};
}

void ShadowMemory::new_image(const mm_struct* mm, const AddressSpaces& as,
                             const PhysicalMemory& ram) {
    Space& s = spaces_[mm];
    s = Space{};
    for (const vm_area_struct* v : as.vmas(mm)) {
        Range r;
        r.end = v->vm_end;
        r.growsdown = v->vm_flags & VM_GROWSDOWN;
        s.ranges.emplace(v->vm_start, r);
        as.for_each_present_page(mm, v->vm_start, v->vm_end, [&](uint64_t a, Pfn pfn) {
            auto p = std::make_shared<Page>();
            ram.read(PhysAddr{pfn.value << 12}, p->bytes(), PG);
            if (uniform_bytes(p->b.get(), PG)) {
                if (p->b[0] == 0) return;
                p = std::make_shared<Page>(p->b[0]);
            }
            s.priv[a / PG] = std::move(p);
        });
    }
}

void ShadowMemory::fork(const mm_struct* parent, const mm_struct* child) {
    Space* ps = space(parent);
    if (!ps) return;
    Space cs;
    for (const auto& [start, r] : ps->ranges) {
        // A range whose flags are unknown goes to the child unknown: it may or may not be there.
        if (r.dontfork && !r.unknown) continue;
        cs.ranges.emplace(start, r);
        if (r.obj || (r.wipeonfork && !r.unknown)) continue;
        for (auto it = ps->priv.lower_bound(start / PG);
             it != ps->priv.end() && it->first < r.end / PG; ++it)
            cs.priv.emplace_hint(cs.priv.end(), it->first, it->second);
    }
    spaces_[child] = std::move(cs);
}

void ShadowMemory::mmap(const mm_struct* mm, uint64_t addr, uint64_t len, bool shared,
                        bool growsdown) {
    const auto held = locked();
    Space* s = space(mm);
    if (!s) return;
    unmap(*s, addr, addr + len);
    Range r;
    r.end = addr + len;
    r.growsdown = growsdown;
    if (shared) {
        r.obj = std::make_shared<Object>();
        r.obj->pages = len / PG;
    }
    s->ranges.emplace(addr, std::move(r));
}

void ShadowMemory::munmap(const mm_struct* mm, uint64_t addr, uint64_t len) {
    const auto held = locked();
    if (Space* s = space(mm)) unmap(*s, addr & ~(PG - 1), (addr + len + PG - 1) & ~(PG - 1));
}

void ShadowMemory::unknown(const mm_struct* mm, uint64_t addr, uint64_t len) {
    const auto held = locked();
    Space* s = space(mm);
    if (!s) return;
    const uint64_t a = addr & ~(PG - 1), end = (addr + len + PG - 1) & ~(PG - 1);
    if (end <= a) return;
    unmap(*s, a, end);
    Range r;
    r.end = end;
    r.unknown = true;
    s->ranges.emplace(a, r);
}

void ShadowMemory::brk(const mm_struct* mm, uint64_t old_end, uint64_t new_end) {
    const auto held = locked();
    Space* s = space(mm);
    if (!s || old_end == new_end) return;
    if (new_end < old_end) return unmap(*s, new_end, old_end);
    unmap(*s, old_end, new_end);
    Range r;
    r.end = new_end;
    s->ranges.emplace(old_end, r);
}

void ShadowMemory::madvise(const mm_struct* mm, uint64_t addr, uint64_t len, int advice, int err) {
    const auto held = locked();
    Space* s = space(mm);
    if (!s) return;
    const uint64_t a = addr & ~(PG - 1), end = (addr + len + PG - 1) & ~(PG - 1);
    // KSM's advice changes no byte: merging and unmerging keep every page's contents.
    if (end <= a || advice == MADV_WILLNEED || advice == MADV_FREE || advice == MADV_MERGEABLE ||
        advice == MADV_UNMERGEABLE)
        return;
    // -ENOMEM: the range has holes; Linux acted on every VMA in it all the same. Another error
    // may have come from a VMA part way through, after the ones before it were done.
    if (err && err != -ENOMEM) {
        split(*s, a);
        split(*s, end);
        for (auto it = s->ranges.lower_bound(a); it != s->ranges.end() && it->first < end; ++it)
            it->second.unknown = true;
        return;
    }
    split(*s, a);
    split(*s, end);
    for (auto it = s->ranges.lower_bound(a); it != s->ranges.end() && it->first < end; ++it) {
        Range& r = it->second;
        switch (advice) {
        case MADV_DONTNEED:
            if (!r.obj)
                s->priv.erase(s->priv.lower_bound(it->first / PG), s->priv.lower_bound(r.end / PG));
            break;
        case MADV_DONTFORK: r.dontfork = true; break;
        case MADV_DOFORK: r.dontfork = false; break;
        case MADV_WIPEONFORK: r.wipeonfork = true; break;
        case MADV_KEEPONFORK: r.wipeonfork = false; break;
        default: break;
        }
    }
}

void ShadowMemory::mremap(const mm_struct* mm, uint64_t addr, uint64_t old_len, uint64_t to,
                          uint64_t new_len, unsigned flags) {
    const auto held = locked();
    Space* s = space(mm);
    if (!s) return;
    old_len = (old_len + PG - 1) & ~(PG - 1);
    new_len = (new_len + PG - 1) & ~(PG - 1);
    const uint64_t keep = std::min(old_len, new_len);
    split(*s, addr);
    split(*s, addr + keep);
    if (old_len == 0) { // a second mapping of a shared object, from addr's page of it on
        auto it = s->ranges.find(addr);
        if (it == s->ranges.end()) return;
        Range r = it->second;
        r.end = to + new_len;
        unmap(*s, to, to + new_len);
        s->ranges.emplace(to, r);
        return;
    }
    // The ranges (their ends as offsets) and private pages that move, and the range a growth
    // continues: the last one, with the object's pages after it for a shared one.
    std::vector<std::pair<uint64_t, Range>> moved;
    for (auto it = s->ranges.lower_bound(addr); it != s->ranges.end() && it->first < addr + keep;
         ++it) {
        Range r = it->second;
        r.end -= addr;
        moved.emplace_back(it->first - addr, std::move(r));
    }
    const bool grow = new_len > keep && !moved.empty();
    Range tail;
    if (grow) {
        tail = moved.back().second;
        if (tail.obj) tail.pgoff += (tail.end - moved.back().first) / PG;
    }
    std::vector<std::pair<uint64_t, PagePtr>> pages; // by page offset from addr
    for (auto it = s->priv.lower_bound(addr / PG);
         it != s->priv.end() && it->first < (addr + keep) / PG; ++it)
        pages.emplace_back(it->first - addr / PG, it->second);
    if (to != addr) {
        // A move: MREMAP_DONTUNMAP leaves the old range mapped and empty (its private pages
        // moved), otherwise it goes; anything at the destination went first.
        if (flags & MREMAP_DONTUNMAP)
            s->priv.erase(s->priv.lower_bound(addr / PG), s->priv.lower_bound((addr + keep) / PG));
        else
            unmap(*s, addr, addr + old_len);
        unmap(*s, to, to + new_len);
        for (auto& [off, r] : moved) {
            r.end += to;
            s->ranges.emplace(to + off, std::move(r));
        }
        for (auto& [off, p] : pages) s->priv[to / PG + off] = std::move(p);
    } else if (new_len < old_len) {
        unmap(*s, addr + new_len, addr + old_len);
    }
    if (grow) {
        tail.end = to + new_len;
        unmap(*s, to + keep, to + new_len);
        s->ranges.emplace(to + keep, std::move(tail));
    }
}

std::string ShadowMemory::write(const mm_struct* mm, uint64_t addr, const uint8_t* data,
                                uint64_t len) {
    const auto held = locked();
    Space* s = space(mm);
    if (!s) return "";
    std::string err;
    const Slot sl = slot(*s, addr, true, err);
    if (!sl.page) return err;
    Page& p = **sl.page;
    if (len == PG && !p.b) p.b = std::make_unique_for_overwrite<uint8_t[]>(PG);
    std::memcpy(p.bytes() + (addr & (PG - 1)), data, len);
    return err;
}

std::string ShadowMemory::fill(const mm_struct* mm, uint64_t addr, uint8_t byte, uint64_t len) {
    const auto held = locked();
    Space* s = space(mm);
    if (!s) return "";
    std::string err;
    const Slot sl = slot(*s, addr, true, err);
    if (!sl.page) return err;
    Page& p = **sl.page;
    if (len == PG) {
        p.b.reset();
        p.uniform = byte;
    } else if (p.b || p.uniform != byte) {
        std::memset(p.bytes() + (addr & (PG - 1)), byte, len);
    }
    return err;
}

std::string ShadowMemory::compare(const uint8_t* got, const Page* want, uint64_t addr,
                                  uint64_t len) {
    const uint8_t* w = want && want->b ? want->b.get() + (addr & (PG - 1)) : nullptr;
    const uint8_t u = want ? want->uniform : 0;
    if (w ? std::memcmp(got, w, len) == 0 : len && got[0] == u && uniform_bytes(got, len))
        return "";
    for (uint64_t i = 0; i < len; i++) {
        const uint8_t expect = w ? w[i] : u;
        if (got[i] != expect)
            return "the byte at " + hex_addr(addr + i) + " is " + std::to_string(got[i]) +
                   ", the shadow memory predicts " + std::to_string(expect);
    }
    return "";
}

std::string ShadowMemory::check_read(const mm_struct* mm, uint64_t addr, const uint8_t* data,
                                     uint64_t len) {
    const auto held = locked();
    Space* s = space(mm);
    if (!s) return "";
    std::string err;
    const Slot sl = slot(*s, addr, false, err);
    if (!err.empty() || !sl.range) return err;
    bytes_checked_ += len;
    return compare(data, sl.page ? sl.page->get() : nullptr, addr, len);
}

std::string ShadowMemory::check_frames(const AddressSpaces& as, const PhysicalMemory& ram) {
    std::unordered_map<const mm_struct*, Space> live;
    std::string err;
    uint8_t buf[PG];
    for (const mm_struct* mm : as.mms()) {
        auto it = spaces_.find(mm);
        if (it == spaces_.end()) continue;
        Space& s = it->second;
        for (auto& entry : s.ranges) {
            // Named, not a structured binding: the lambda below captures them (clang 14, which
            // builds the fuzz targets, cannot capture bindings).
            const uint64_t start = entry.first;
            auto& r = entry.second;
            if (r.unknown || !err.empty()) continue;
            as.for_each_present_page(mm, start, r.end, [&](uint64_t a, Pfn pfn) {
                if (!err.empty()) return;
                const Page* want = nullptr;
                if (r.obj) {
                    const uint64_t index = r.pgoff + (a - start) / PG;
                    if (auto p = r.obj->data.find(index); p != r.obj->data.end())
                        want = p->second.get();
                } else if (auto p = s.priv.find(a / PG); p != s.priv.end()) {
                    want = p->second.get();
                }
                ram.read(PhysAddr{pfn.value << 12}, buf, PG);
                frames_checked_++;
                if (std::string e = compare(buf, want, a & ~(PG - 1), PG); !e.empty())
                    err = "in the page of pfn " + hex_addr(pfn.value) + ", " + e;
            });
        }
        live.emplace(mm, std::move(s));
    }
    spaces_ = std::move(live);
    return err;
}

uint64_t ShadowMemory::page_bytes() const {
    std::unordered_set<const Page*> seen;
    for (const auto& [mm, s] : spaces_) {
        for (const auto& [vpn, p] : s.priv)
            if (p->b) seen.insert(p.get());
        for (const auto& [start, r] : s.ranges)
            if (r.obj)
                for (const auto& [i, p] : r.obj->data)
                    if (p->b) seen.insert(p.get());
    }
    return seen.size() * PG;
}

} // namespace mmemu
