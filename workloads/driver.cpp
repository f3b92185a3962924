#include "workloads/driver.h"

#include <cstdio>

#include "mmcore/bug.h"

namespace mmemu {

namespace {

constexpr uint64_t NO_PAGE = ~uint64_t{0};

const char* op_name(OpKind k) {
    switch (k) {
    case OpKind::alloc_pages:
        return "alloc_pages";
    case OpKind::free_pages:
        return "free_pages";
    case OpKind::kmem_cache_create:
        return "kmem_cache_create";
    case OpKind::kmem_cache_alloc:
        return "kmem_cache_alloc";
    case OpKind::kmem_cache_free:
        return "kmem_cache_free";
    case OpKind::kmem_cache_shrink:
        return "kmem_cache_shrink";
    case OpKind::kmem_cache_destroy:
        return "kmem_cache_destroy";
    case OpKind::kmalloc:
        return "kmalloc";
    case OpKind::kfree:
        return "kfree";
    case OpKind::write_object:
        return "write_object";
    case OpKind::drain_pages:
        return "drain_pages";
    case OpKind::checkpoint:
        return "checkpoint";
    }
    return "?";
}

const char* failure_reason(AllocFailure f) {
    switch (f) {
    case AllocFailure::oom:
        return "out of memory: the OOM killer found nothing to kill";
    case AllocFailure::watermark:
        return "no zone above its watermark";
    case AllocFailure::no_free_block:
        return "no free block of that order";
    case AllocFailure::none:
        break;
    }
    return "failed";
}

// Kernel virtual addresses exceed 2^53, so they are written as hex strings (a JSON number would
// lose precision in most readers).
std::string hex_address(uint64_t a) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(a));
    return buf;
}

} // namespace

Driver::Driver(const Scenario& sc, RunOptions opt) : sc_(sc), opt_(opt) {
    machine_ = std::make_unique<Machine>(sc.machine);
    kernel_ = std::make_unique<Kernel>(*machine_, sc.kernel);
    slots_.resize(sc.handle_names.size());
    caches_.assign(sc.cache_names.size(), nullptr);
}

Driver::~Driver() = default;

void Driver::failure(const Op& op, const std::string& what) {
    ojson f;
    f["event"] = op.event;
    f["op"] = op_name(op.kind);
    switch (op.kind) {
    case OpKind::kmem_cache_create:
    case OpKind::kmem_cache_shrink:
    case OpKind::kmem_cache_destroy:
        f["cache"] = sc_.cache_names[op.cache];
        break;
    case OpKind::drain_pages:
    case OpKind::checkpoint:
        break;
    default:
        f["id"] = sc_.handle_names[op.handle];
        break;
    }
    f["reason"] = what;
    failures_.push_back(f);
}

std::vector<std::pair<uint64_t, unsigned>> Driver::held_blocks() const {
    std::vector<std::pair<uint64_t, unsigned>> out;
    for (const auto& s : slots_)
        if (s.order != 0xff)
            for (uint64_t pfn : s.items)
                if (pfn != NO_PAGE) out.push_back({pfn, s.order});
    return out;
}

void Driver::audit(const std::string& where) {
    if (!opt_.audit) return;
    audits_++;
    if (std::string e = kernel_->audit(held_blocks()); !e.empty())
        throw KernelBug("invariant check failed " + where + ": " + e);
}

void Driver::exec(const Op& op) {
    Kernel& k = *kernel_;
    switch (op.kind) {
    case OpKind::alloc_pages: {
        Slot& s = slots_[op.handle];
        s.items.clear();
        s.order = op.order;
        for (uint32_t i = 0; i < op.count; i++) {
            page* p = k.buddy.alloc_pages(op.gfp, op.order, op.node, op.cpu);
            if (!p) {
                failure(op, std::string("alloc_pages(") + gfp_to_string(op.gfp) + ", order " +
                                std::to_string(op.order) +
                                "): " + failure_reason(k.buddy.last_failure()));
                s.items.push_back(NO_PAGE);
                continue;
            }
            s.items.push_back(k.mem_map.page_to_pfn(p).value);
        }
        break;
    }
    case OpKind::free_pages: {
        Slot& s = slots_[op.handle];
        for (uint64_t pfn : s.items)
            if (pfn != NO_PAGE)
                k.buddy.free_pages(k.mem_map.pfn_to_page(Pfn{pfn}), s.order, op.cpu);
        s.items.clear();
        break;
    }
    case OpKind::kmem_cache_create: {
        std::string err;
        kmem_cache* c = k.slab.kmem_cache_create(
            sc_.cache_names[op.cache], op.size, op.align, op.flags,
            op.has_ctor ? std::optional<uint8_t>(op.fill) : std::nullopt, err, op.cpu);
        caches_[op.cache] = c;
        if (!c) failure(op, "kmem_cache_create(\"" + sc_.cache_names[op.cache] + "\"): " + err);
        break;
    }
    case OpKind::kmem_cache_alloc:
    case OpKind::kmalloc: {
        Slot& s = slots_[op.handle];
        s.items.clear();
        s.order = 0xff; // objects, not page blocks
        kmem_cache* c = op.kind == OpKind::kmem_cache_alloc ? caches_[op.cache] : nullptr;
        for (uint32_t i = 0; i < op.count; i++) {
            uint64_t obj = 0;
            if (op.kind == OpKind::kmalloc)
                obj = k.slab.kmalloc(op.size, op.gfp, op.cpu);
            else if (c)
                obj = k.slab.kmem_cache_alloc(c, op.gfp, op.cpu);
            if (!obj) {
                std::string why = op.kind == OpKind::kmalloc && op.size > KMALLOC_MAX_SIZE
                                      ? "kmalloc(" + std::to_string(op.size) +
                                            "): larger than KMALLOC_MAX_SIZE (4 MiB)"
                                  : !c && op.kind == OpKind::kmem_cache_alloc
                                      ? "the cache was never created"
                                      : std::string(op_name(op.kind)) + ": " +
                                            failure_reason(k.buddy.last_failure());
                failure(op, why);
            }
            s.items.push_back(obj);
        }
        break;
    }
    case OpKind::kmem_cache_free:
    case OpKind::kfree: {
        Slot& s = slots_[op.handle];
        for (uint64_t obj : s.items)
            if (obj) k.slab.kfree(obj, op.cpu);
        s.items.clear();
        break;
    }
    case OpKind::kmem_cache_shrink:
        if (caches_[op.cache]) k.slab.kmem_cache_shrink(caches_[op.cache], op.cpu);
        break;
    case OpKind::kmem_cache_destroy:
        if (kmem_cache* c = caches_[op.cache]) {
            if (k.slab.kmem_cache_destroy(c, op.cpu))
                caches_[op.cache] = nullptr;
            else
                failure(op, "kmem_cache_destroy(\"" + c->name +
                                "\"): objects are still allocated; the cache is kept");
        }
        break;
    case OpKind::write_object: {
        const Slot& s = slots_[op.handle];
        if (s.items.empty() || !s.items.front() || s.items.front() == ZERO_SIZE_PTR) break;
        const PhysAddr at{s.items.front() + op.offset};
        if (!k.machine.ram().contains(at, op.size)) {
            failure(op, "write_object: the range is beyond physical memory");
            break;
        }
        k.machine.ram().fill(at, op.fill, op.size);
        break;
    }
    case OpKind::drain_pages:
        k.buddy.drain_all_pages();
        break;
    case OpKind::checkpoint: {
        audit("at checkpoint \"" + sc_.checkpoint_names[op.name] + "\"");
        ojson cp;
        cp["name"] = sc_.checkpoint_names[op.name];
        cp["event"] = op.event;
        cp["state"] = snapshot_state(k);
        checkpoints_.push_back(cp);
        break;
    }
    }
}

void Driver::run() {
    for (const Op& op : sc_.ops) {
        exec(op);
        events_run_++;
    }
    audit("at the end of the run");
}

ojson Driver::statistics() const {
    const Kernel& k = *kernel_;
    ojson st;
    st["mmemu_stats"] = STATS_FORMAT_VERSION;
    st["scenario"] = {{"name", sc_.name}, {"seed", sc_.seed}};
    ojson m;
    m["arch"] = arch_name(sc_.machine.arch);
    m["memory_bytes"] = sc_.machine.memory_bytes;
    m["cpus"] = sc_.machine.nr_cpus;
    ojson nodes = ojson::array();
    for (const auto& n : machine_->nodes()) nodes.push_back({{"start", n.start}, {"end", n.end}});
    m["nodes"] = nodes;
    st["machine"] = m;
    st["boot"] = boot_summary(k);
    st["checkpoints"] = checkpoints_;
    st["final"] = snapshot_state(k);
    ojson reports = ojson::array();
    for (const auto& r : k.slab.reports())
        reports.push_back(
            {{"cache", r.cache}, {"object", hex_address(r.object)}, {"message", r.message}});
    const PageAllocatorStats& ps = k.buddy.stats();
    st["results"] = {
        {"events_run", events_run_},
        {"audits_passed", audits_},
        {"failures", failures_},
        {"slab_errors", reports},
        {"page_allocator",
         {{"alloc_success", ps.alloc_success},
          {"alloc_fail", ps.alloc_fail},
          {"alloc_fail_costly", ps.alloc_fail_costly},
          {"slowpath", ps.slowpath},
          {"extfrag_events", ps.extfrag_events},
          {"pageblock_steals", ps.pageblock_steals},
          {"pcp_refills", ps.pcp_refills},
          {"pcp_bulk_frees", ps.pcp_bulk_frees},
          {"pcp_pages", k.buddy.nr_pcp_pages()},
          {"highatomic_reserved", ps.highatomic_reserved}}},
    };
    return st;
}

} // namespace mmemu
