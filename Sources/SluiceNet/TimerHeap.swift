/// A handle to a timer scheduled on an event loop, used to cancel it.
public struct TimerHandle: Hashable, Sendable {
    let id: UInt64
}

/// Pending timers of one event loop: a binary min-heap of deadlines ordered
/// by time, then by scheduling order, so timers with equal deadlines fire
/// first in, first out.
///
/// Callbacks live in a dictionary beside the heap. Cancelling removes the
/// callback at once (releasing what it captured) and leaves the heap entry
/// to be dropped when it reaches the top; when dead entries outnumber live
/// timers, the heap is rebuilt so memory stays proportional to live timers.
struct TimerHeap {
    private struct Entry {
        var deadline: UInt64
        var id: UInt64

        func firesBefore(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : id < other.id
        }
    }

    private var entries: [Entry] = []
    private var callbacks: [UInt64: () -> Void] = [:]
    /// The id the next scheduled timer gets; ids grow by one per timer.
    private(set) var nextID: UInt64 = 1

    /// Number of live (scheduled, not yet fired or cancelled) timers.
    var count: Int { callbacks.count }

    mutating func schedule(deadline: UInt64, _ callback: @escaping () -> Void) -> TimerHandle {
        let id = nextID
        nextID += 1
        callbacks[id] = callback
        entries.append(Entry(deadline: deadline, id: id))
        siftUp(entries.count - 1)
        return TimerHandle(id: id)
    }

    /// Cancels the timer; cancelling one that already fired or was cancelled
    /// has no effect.
    mutating func cancel(_ handle: TimerHandle) {
        guard callbacks.removeValue(forKey: handle.id) != nil else { return }
        if entries.count > 64 && entries.count > 2 * callbacks.count {
            rebuildWithoutDeadEntries()
        }
    }

    /// The earliest deadline among live timers.
    mutating func nextDeadline() -> UInt64? {
        dropDeadEntriesOnTop()
        return entries.first?.deadline
    }

    /// Removes and returns the callback of the earliest live timer if its
    /// deadline is at or before `now` and its id is below `idLimit` (timers
    /// scheduled by the callbacks of this round wait for the next round).
    mutating func popExpired(now: UInt64, idLimit: UInt64) -> (() -> Void)? {
        dropDeadEntriesOnTop()
        guard let top = entries.first, top.deadline <= now, top.id < idLimit else { return nil }
        removeTop()
        return callbacks.removeValue(forKey: top.id)
    }

    private mutating func dropDeadEntriesOnTop() {
        while let top = entries.first, callbacks[top.id] == nil {
            removeTop()
        }
    }

    private mutating func removeTop() {
        let last = entries.removeLast()
        guard !entries.isEmpty else { return }
        entries[0] = last
        siftDown(0)
    }

    private mutating func rebuildWithoutDeadEntries() {
        entries.removeAll { callbacks[$0.id] == nil }
        var index = entries.count / 2
        while index > 0 {
            index -= 1
            siftDown(index)
        }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].firesBefore(entries[parent]) else { return }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count && entries[left].firesBefore(entries[smallest]) { smallest = left }
            if right < entries.count && entries[right].firesBefore(entries[smallest]) { smallest = right }
            if smallest == parent { return }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
