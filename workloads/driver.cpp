#include "workloads/driver.h"

#include <cstdio>

#include "emulator/linux_gdt.h"
#include "mmcore/bug.h"

namespace mmemu {

namespace {

constexpr uint64_t NO_PAGE = ~uint64_t{0};

const char* op_name(OpKind k) {
    switch (k) {
    case OpKind::alloc_pages: return "alloc_pages";
    case OpKind::free_pages: return "free_pages";
    case OpKind::kmem_cache_create: return "kmem_cache_create";
    case OpKind::kmem_cache_alloc: return "kmem_cache_alloc";
    case OpKind::kmem_cache_free: return "kmem_cache_free";
    case OpKind::kmem_cache_shrink: return "kmem_cache_shrink";
    case OpKind::kmem_cache_destroy: return "kmem_cache_destroy";
    case OpKind::kmalloc: return "kmalloc";
    case OpKind::kfree: return "kfree";
    case OpKind::write_object: return "write_object";
    case OpKind::drain_pages: return "drain_pages";
    case OpKind::checkpoint: return "checkpoint";
    case OpKind::set_cr: return "set_cr";
    case OpKind::wrmsr: return "wrmsr";
    case OpKind::set_rflags: return "set_rflags";
    case OpKind::wrpkru: return "wrpkru";
    case OpKind::write_phys: return "write_phys";
    case OpKind::expect_phys: return "expect_phys";
    case OpKind::access: return "access";
    case OpKind::invlpg: return "invlpg";
    case OpKind::invpcid: return "invpcid";
    case OpKind::load_gdt: return "load_gdt";
    case OpKind::lgdt: return "lgdt";
    case OpKind::load_segment: return "load_segment";
    }
    return "?";
}

const char* failure_reason(AllocFailure f) {
    switch (f) {
    case AllocFailure::oom: return "out of memory: the OOM killer found nothing to kill";
    case AllocFailure::watermark: return "no zone above its watermark";
    case AllocFailure::no_free_block: return "no free block of that order";
    case AllocFailure::none: break;
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
    SystemConfig cfg;
    cfg.machine = sc.machine;
    if (!sc.bare) cfg.kernel = sc.kernel;
    BootResult r = System::boot(cfg);
    if (!r.ok()) throw std::invalid_argument(r.error);
    system_ = std::move(r.system);
    machine_ = &system_->machine();
    if (!sc.bare) kernel_ = &system_->kernel();
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
    case OpKind::kmem_cache_destroy: f["cache"] = sc_.cache_names[op.cache]; break;
    case OpKind::drain_pages:
    case OpKind::checkpoint: break;
    default: f["id"] = sc_.handle_names[op.handle]; break;
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
    if (!opt_.audit || !kernel_) return;
    audits_++;
    if (std::string e = kernel_->audit(held_blocks()); !e.empty())
        throw KernelBug("invariant check failed " + where + ": " + e);
}

ojson fault_json(const Fault& f) {
    ojson o;
    o["fault"] = vector_name(f.vector);
    o["error_code"] = hex_string(f.error_code);
    if (f.vector == VEC_PF) o["cr2"] = hex_string(f.cr2.value);
    if (f.level) o["level"] = f.level;
    if (f.bit >= 0) o["bit"] = f.bit;
    o["rule"] = fault_message(f);
    return o;
}

void Driver::expectation(const Op& op, ojson& rec, const std::string& failure) {
    expectations_checked_++;
    if (failure.empty()) {
        rec["expectation"] = "met";
        return;
    }
    expectations_failed_++;
    rec["expectation"] = "FAILED: " + failure;
    expectation_failures_.push_back({{"event", op.event}, {"message", failure}});
}

void Driver::exec_bare(const Op& op) {
    Mmu& mmu = machine_->mmu(op.cpu);
    PhysicalMemory& ram = machine_->ram();
    auto record_fault = [&](const Fault& f) {
        if (!f.raised()) return;
        ojson rec = fault_json(f);
        rec["event"] = op.event;
        failures_.push_back(rec);
    };
    switch (op.kind) {
    case OpKind::set_cr:
        record_fault(op.reg == 0   ? mmu.write_cr0(op.value)
                     : op.reg == 3 ? mmu.write_cr3(op.value)
                                   : mmu.write_cr4(op.value));
        break;
    case OpKind::wrmsr: record_fault(mmu.write_efer(op.value)); break;
    case OpKind::set_rflags: mmu.write_rflags(op.value); break;
    case OpKind::wrpkru: mmu.write_pkru(uint32_t(op.value)); break;
    case OpKind::write_phys: {
        const auto& b = sc_.blobs[op.blob];
        ram.write(PhysAddr{op.la}, b.data(), b.size());
        break;
    }
    case OpKind::expect_phys: {
        const auto& b = sc_.blobs[op.blob];
        std::vector<uint8_t> got(b.size());
        ram.read(PhysAddr{op.la}, got.data(), got.size());
        ojson rec = {{"event", op.event}, {"op", "expect_phys"}, {"addr", hex_string(op.la)}};
        std::string failure;
        for (size_t i = 0; i < b.size(); i++)
            if (got[i] != b[i]) {
                char buf[160];
                std::snprintf(buf, sizeof buf, "physical byte at %s is 0x%02x, expected 0x%02x",
                              hex_string(op.la + i).c_str(), got[i], b[i]);
                failure = buf;
                break;
            }
        expectation(op, rec, failure);
        accesses_.push_back(rec);
        break;
    }
    case OpKind::access: {
        Cpu& cpu = machine_->cpu(op.cpu);
        ojson rec;
        rec["event"] = op.event;
        rec["cpu"] = op.cpu;
        rec["type"] = op.access == 0 ? "read" : op.access == 1 ? "write" : "fetch";
        const AccessType type = AccessType(op.access);
        const AccessMode who{op.cpl, op.implicit};
        const unsigned size = unsigned(op.size);
        uint8_t bytes[8] = {};
        for (unsigned k = 0; k < size; k++) bytes[k] = uint8_t(op.value >> (8 * k));
        MemoryAccess a;
        if (op.seg >= 0) {
            // segment:offset -> linear (segmentation) -> physical (paging)
            rec["seg"] = std::string(seg_reg_name(SegReg(op.seg)));
            rec["offset"] = hex_string(op.la);
            a = type == AccessType::write ? cpu.write(SegReg(op.seg), op.la, bytes, size, who)
                                          : cpu.read(SegReg(op.seg), op.la, bytes, size, who, type);
        } else {
            a = type == AccessType::write
                    ? cpu.write_linear(LinearAddr{op.la}, bytes, size, who)
                    : cpu.read_linear(LinearAddr{op.la}, bytes, size, who, type);
        }
        if (op.seg < 0 || a.fault.seg == FAULT_NO_SEG) rec["la"] = hex_string(a.la.value);
        uint64_t value = 0;
        for (unsigned k = 0; k < size; k++) value |= uint64_t(bytes[k]) << (8 * k);
        if (!a.ok()) {
            rec["result"] = fault_json(a.fault);
        } else {
            const Translation& t = a.first;
            rec["result"] = {{"pa", hex_string(t.pa.value)},
                             {"page_size", uint64_t{1} << t.page_shift},
                             {"source", t.source == TlbLevel::l1     ? "l1_tlb"
                                        : t.source == TlbLevel::stlb ? "stlb"
                                        : t.source == TlbLevel::walk ? "walk"
                                                                     : "no_paging"},
                             {"cycles", a.cycles}};
            if (a.split) rec["result"]["split_pa"] = hex_string(a.second_pa.value);
            if (type != AccessType::write) rec["result"]["value"] = hex_string(value);
        }
        if (op.expect >= 0) {
            const AccessExpect& ex = sc_.expects[size_t(op.expect)];
            const Fault& f = a.fault;
            std::string failure;
            if (ex.fault) {
                if (!f.raised())
                    failure = std::string("expected ") + vector_name(ex.vector) +
                              ", the access succeeded";
                else if (f.vector != ex.vector)
                    failure = std::string("expected ") + vector_name(ex.vector) + ", got " +
                              vector_name(f.vector);
                else if (ex.error_code && *ex.error_code != f.error_code)
                    failure = "expected error code " + hex_string(*ex.error_code) + ", got " +
                              hex_string(f.error_code);
            } else if (f.raised()) {
                failure = std::string("expected success, got ") + vector_name(f.vector) +
                          " error code " + hex_string(f.error_code);
            } else {
                const Translation& t = a.first;
                if (ex.pa && *ex.pa != t.pa.value)
                    failure =
                        "expected pa " + hex_string(*ex.pa) + ", got " + hex_string(t.pa.value);
                else if (ex.page_size && *ex.page_size != (uint64_t{1} << t.page_shift))
                    failure = "expected page size " + std::to_string(*ex.page_size) + ", got " +
                              std::to_string(uint64_t{1} << t.page_shift);
                else if (ex.value && *ex.value != value)
                    failure =
                        "expected value " + hex_string(*ex.value) + ", got " + hex_string(value);
            }
            expectation(op, rec, failure);
        }
        accesses_.push_back(rec);
        break;
    }
    case OpKind::invlpg: mmu.invlpg(LinearAddr{op.la}); break;
    case OpKind::load_gdt: {
        const uint64_t offset = op.value - op.la; // linear base minus physical address
        DescriptorTableRegister gdtr =
            op.reg == 0   ? write_linux_i386_gdt(ram, PhysAddr{op.la}, offset)
            : op.reg == 1 ? write_linux_boot_gdt(ram, PhysAddr{op.la}, offset)
                          : write_linux_x86_64_gdt(ram, PhysAddr{op.la}, offset);
        machine_->cpu(op.cpu).seg.lgdt(gdtr);
        break;
    }
    case OpKind::lgdt: {
        DescriptorTableRegister gdtr;
        gdtr.base = op.la;
        gdtr.limit = uint16_t(op.value);
        machine_->cpu(op.cpu).seg.lgdt(gdtr);
        break;
    }
    case OpKind::load_segment: {
        Cpu& cpu = machine_->cpu(op.cpu);
        const bool ldtr = op.seg == 6;
        const Fault f = ldtr ? cpu.lldt(uint16_t(op.value), op.cpl)
                             : cpu.load_segment(SegReg(op.seg), uint16_t(op.value), op.cpl);
        ojson rec;
        rec["event"] = op.event;
        rec["cpu"] = op.cpu;
        rec["op"] = "load_segment";
        rec["reg"] = ldtr ? std::string("LDTR") : std::string(seg_reg_name(SegReg(op.seg)));
        rec["selector"] = hex_string(op.value);
        if (f.raised())
            rec["result"] = fault_json(f);
        else
            rec["result"] = "loaded";
        if (op.expect >= 0) {
            const AccessExpect& ex = sc_.expects[size_t(op.expect)];
            std::string failure;
            if (ex.fault && !f.raised())
                failure =
                    std::string("expected ") + vector_name(ex.vector) + ", the load succeeded";
            else if (!ex.fault && f.raised())
                failure = std::string("expected success, got ") + vector_name(f.vector) +
                          " error code " + hex_string(f.error_code);
            else if (ex.fault && f.vector != ex.vector)
                failure = std::string("expected ") + vector_name(ex.vector) + ", got " +
                          vector_name(f.vector);
            else if (ex.fault && ex.error_code && *ex.error_code != f.error_code)
                failure = "expected error code " + hex_string(*ex.error_code) + ", got " +
                          hex_string(f.error_code);
            expectation(op, rec, failure);
        }
        accesses_.push_back(rec);
        break;
    }
    case OpKind::invpcid:
        record_fault(mmu.invpcid(op.reg, uint16_t(op.value), LinearAddr{op.la}));
        break;
    case OpKind::checkpoint: {
        ojson cp;
        cp["name"] = sc_.checkpoint_names[op.name];
        cp["event"] = op.event;
        cp["state"] = snapshot();
        checkpoints_.push_back(cp);
        break;
    }
    default: break; // kernel events are rejected by the compiler in bare mode
    }
}

ojson Driver::snapshot() const {
    if (sc_.bare) return {{"cpus", cpu_stats(*machine_)}};
    return snapshot_state(*kernel_);
}

void Driver::exec(const Op& op) {
    if (sc_.bare) return exec_bare(op);
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
    case OpKind::drain_pages: k.buddy.drain_all_pages(); break;
    case OpKind::checkpoint: {
        audit("at checkpoint \"" + sc_.checkpoint_names[op.name] + "\"");
        ojson cp;
        cp["name"] = sc_.checkpoint_names[op.name];
        cp["event"] = op.event;
        cp["state"] = snapshot();
        checkpoints_.push_back(cp);
        break;
    }
    default: break; // bare-machine events are rejected by the compiler in kernel mode
    }
}

bool Driver::run_until_checkpoint(const std::string& name) {
    for (const Op& op : sc_.ops) {
        exec(op);
        events_run_++;
        if (op.kind == OpKind::checkpoint && sc_.checkpoint_names[op.name] == name) return true;
    }
    return false;
}

void Driver::run() {
    for (const Op& op : sc_.ops) {
        exec(op);
        events_run_++;
    }
    audit("at the end of the run");
}

ojson Driver::statistics() const {
    ojson st;
    st["mmemu_stats"] = STATS_FORMAT_VERSION;
    st["scenario"] = {
        {"name", sc_.name}, {"seed", sc_.seed}, {"mode", sc_.bare ? "bare" : "kernel"}};
    ojson m;
    m["arch"] = arch_name(sc_.machine.arch);
    m["memory_bytes"] = sc_.machine.memory_bytes;
    m["cpus"] = sc_.machine.nr_cpus;
    ojson nodes = ojson::array();
    for (const auto& n : machine_->nodes()) nodes.push_back({{"start", n.start}, {"end", n.end}});
    m["nodes"] = nodes;
    m["maxphyaddr"] = machine_->config().maxphyaddr;
    st["machine"] = m;
    if (kernel_) st["boot"] = boot_summary(*kernel_);
    st["checkpoints"] = checkpoints_;
    st["final"] = snapshot();
    ojson results;
    results["events_run"] = events_run_;
    if (sc_.bare) {
        results["faults"] = failures_;
        results["accesses"] = accesses_;
        results["expectations"] = {{"checked", expectations_checked_},
                                   {"failed", expectations_failed_},
                                   {"failures", expectation_failures_}};
        st["results"] = results;
        return st;
    }
    const Kernel& k = *kernel_;
    ojson reports = ojson::array();
    for (const auto& r : k.slab.reports())
        reports.push_back(
            {{"cache", r.cache}, {"object", hex_address(r.object)}, {"message", r.message}});
    const PageAllocatorStats& ps = k.buddy.stats();
    results["audits_passed"] = audits_;
    results["failures"] = failures_;
    results["slab_errors"] = reports;
    results["page_allocator"] = {{"alloc_success", ps.alloc_success},
                                 {"alloc_fail", ps.alloc_fail},
                                 {"alloc_fail_costly", ps.alloc_fail_costly},
                                 {"slowpath", ps.slowpath},
                                 {"extfrag_events", ps.extfrag_events},
                                 {"pageblock_steals", ps.pageblock_steals},
                                 {"pcp_refills", ps.pcp_refills},
                                 {"pcp_bulk_frees", ps.pcp_bulk_frees},
                                 {"pcp_pages", k.buddy.nr_pcp_pages()},
                                 {"highatomic_reserved", ps.highatomic_reserved}};
    st["results"] = results;
    return st;
}

} // namespace mmemu
