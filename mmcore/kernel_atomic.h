// The kernel's atomic words (atomic_t, atomic_long_t, the atomic bitops on page->flags) and its
// event and state counters (per-CPU in Linux: count_vm_event(), mod_zone_page_state(),
// percpu_counter), as mmemu keeps them.
//
// In the deterministic mode (the default) one host thread runs everything: a read-modify-write
// is a plain load and store, as cheap as before. In the concurrent mode (mmemu run --concurrent)
// the CPUs' threads update them at once, so a read-modify-write is a locked instruction
// (Smp::concurrent_here() tells which). Linux keeps the counters per CPU and sums them when read;
// a single word updated atomically gives the same sums. Plain loads and stores are atomic in
// both modes (on x86 the same mov instruction), so a reader racing a writer reads one value or
// the other, as READ_ONCE() does, and ThreadSanitizer checks the rest.
//
// Read-modify-writes are acq_rel and loads acquire: a page's last reference dropped on one CPU
// and the page freed on another see every write made under the reference
// (atomic_dec_and_test() is fully ordered).
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "emulator/smp.h"

namespace mmemu {

namespace katomic {

template <class T> inline T read(const T& v) {
    return std::atomic_ref<T>(const_cast<T&>(v)).load(std::memory_order_acquire);
}
template <class T> inline void set(T& v, T x) {
    std::atomic_ref<T>(v).store(x, std::memory_order_release);
}
// atomic_add_return(): the new value.
template <class T> inline T add_return(T& v, T n) {
    if (Smp::concurrent_here())
        return T(std::atomic_ref<T>(v).fetch_add(n, std::memory_order_acq_rel) + n);
    const T r = T(v + n);
    v = r;
    return r;
}
// atomic_fetch_or() / atomic_fetch_and(): the old value.
template <class T> inline T fetch_or(T& v, T bits) {
    if (Smp::concurrent_here())
        return std::atomic_ref<T>(v).fetch_or(bits, std::memory_order_acq_rel);
    const T old = v;
    v = T(old | bits);
    return old;
}
template <class T> inline T fetch_and(T& v, T bits) {
    if (Smp::concurrent_here())
        return std::atomic_ref<T>(v).fetch_and(bits, std::memory_order_acq_rel);
    const T old = v;
    v = T(old & bits);
    return old;
}

} // namespace katomic

// A counter or atomic word: reads and writes as a plain integer in the code that uses it.
template <class T> class kernel_atomic {
    static_assert(std::is_integral_v<T>);

public:
    constexpr kernel_atomic() = default;
    constexpr kernel_atomic(T v) : v_(v) {}
    kernel_atomic(const kernel_atomic& o) : v_(o.load()) {}
    kernel_atomic& operator=(const kernel_atomic& o) {
        store(o.load());
        return *this;
    }
    kernel_atomic& operator=(T v) {
        store(v);
        return *this;
    }
    operator T() const { return load(); }
    T load() const { return katomic::read(v_); }
    void store(T v) { katomic::set(v_, v); }

    T operator+=(T n) { return katomic::add_return(v_, n); }
    T operator-=(T n) { return katomic::add_return(v_, T(T(0) - n)); }
    T operator++() { return katomic::add_return(v_, T(1)); }
    T operator--() { return katomic::add_return(v_, T(T(0) - T(1))); }
    // atomic_add_unless(v, 1, 0) (folio_try_get()): false, and nothing done, at zero.
    bool inc_not_zero() {
        if (!Smp::concurrent_here()) {
            if (v_ == 0) return false;
            v_++;
            return true;
        }
        std::atomic_ref<T> r(v_);
        T old = r.load(std::memory_order_relaxed);
        do {
            if (old == 0) return false;
        } while (!r.compare_exchange_weak(old, T(old + 1), std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
        return true;
    }
    T operator|=(T bits) { return T(katomic::fetch_or(v_, bits) | bits); }
    T operator&=(T bits) { return T(katomic::fetch_and(v_, bits) & bits); }
    T operator++(int) { return T(katomic::add_return(v_, T(1)) - 1); }
    T operator--(int) { return T(katomic::add_return(v_, T(T(0) - T(1))) + 1); }

private:
    T v_{};
};

using katomic_u64 = kernel_atomic<uint64_t>;
using katomic_s64 = kernel_atomic<int64_t>;

} // namespace mmemu
