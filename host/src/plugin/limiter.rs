//! One memory budget per plugin call: every linear memory and table of every core instance in
//! the call's store counts against the same limit, so a component made of many modules cannot
//! take its limit once per module.

/// Most core instances, tables and memories one call may create (a Python component has about
/// a dozen core instances; nothing needs more).
const MAX_INSTANCES: usize = 32;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;

/// A call asked for more memory than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded ({in_use} in use, {asked} more asked for)")]
pub struct MemoryLimitExceeded {
    pub limit: usize,
    pub in_use: usize,
    pub asked: usize,
}

/// What the instances of one call hold, and their limit.
#[derive(Debug)]
pub struct CallMemory {
    limit: usize,
    in_use: usize,
    peak: usize,
    /// The growth just allowed, undone if the growth then fails.
    last_growth: usize,
}

impl CallMemory {
    pub fn new(limit: usize) -> CallMemory {
        CallMemory {
            limit,
            in_use: 0,
            peak: 0,
            last_growth: 0,
        }
    }

    /// The most the call held at once.
    pub fn peak(&self) -> usize {
        self.peak
    }

    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let asked = desired.saturating_sub(current);
        let total = self.in_use.saturating_add(asked);
        if total > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.limit,
                in_use: self.in_use,
                asked,
            }));
        }
        self.in_use = total;
        self.peak = self.peak.max(total);
        self.last_growth = asked;
        Ok(true)
    }

    fn undo_last_growth(&mut self) {
        self.in_use = self.in_use.saturating_sub(self.last_growth);
        self.last_growth = 0;
    }
}

impl wasmtime::ResourceLimiter for CallMemory {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.undo_last_growth();
        // A failed growth (beyond the memory's own maximum) stops the call, as a guest
        // allocator would abort anyway; the error says why.
        Err(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Each table element takes a pointer's worth of host memory.
        let size = std::mem::size_of::<usize>();
        self.grow(current.saturating_mul(size), desired.saturating_mul(size))
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.undo_last_growth();
        Err(error)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn every_memory_and_table_counts_against_one_limit() {
        let mut memory = CallMemory::new(10 << 20);
        assert!(memory.memory_growing(0, 6 << 20, None).unwrap());
        // A second memory of the same call: the sum would be 12 MiB.
        let error = memory.memory_growing(0, 6 << 20, None).unwrap_err();
        let exceeded = error.downcast_ref::<MemoryLimitExceeded>().unwrap();
        assert_eq!(exceeded.in_use, 6 << 20);
        assert!(memory.memory_growing(0, 3 << 20, None).unwrap());
        assert!(memory.table_growing(0, 1 << 20, None).is_err());
        assert_eq!(memory.peak(), 9 << 20);
    }

    #[test]
    fn a_growth_that_fails_is_given_back() {
        let mut memory = CallMemory::new(10 << 20);
        assert!(memory.memory_growing(0, 8 << 20, None).unwrap());
        let _ = memory.memory_grow_failed(wasmtime::Error::msg("beyond its maximum"));
        assert!(memory.memory_growing(0, 8 << 20, None).unwrap());
    }
}
