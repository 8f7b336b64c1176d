#if canImport(Glibc)
import Glibc
#endif

/// A point in time on the system's monotonic clock (`CLOCK_MONOTONIC`), in
/// nanoseconds.
///
/// Event loop timers use this clock because `epoll_wait` measures its timeout
/// on it, and reading it through the vDSO costs no system call.
public struct MonotonicInstant: Comparable, Hashable, Sendable {
    /// Nanoseconds since an unspecified start (usually boot, suspended time excluded).
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) {
        self.nanoseconds = nanoseconds
    }

    /// The current time.
    public static func now() -> MonotonicInstant {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return MonotonicInstant(nanoseconds: UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec))
    }

    /// An instant later than every other, for "no deadline".
    public static let distantFuture = MonotonicInstant(nanoseconds: .max)

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    /// Returns the instant `duration` later, saturating at `distantFuture`;
    /// negative durations count as zero.
    public static func + (lhs: MonotonicInstant, rhs: Duration) -> MonotonicInstant {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.clampedNanoseconds)
        return overflow ? .distantFuture : MonotonicInstant(nanoseconds: sum)
    }

    /// The time from `rhs` to `lhs`, or zero if `rhs` is later.
    public static func - (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Duration {
        guard lhs.nanoseconds > rhs.nanoseconds else { return .zero }
        return .nanoseconds(Int64(clamping: lhs.nanoseconds - rhs.nanoseconds))
    }
}

extension Duration {
    /// This duration in whole nanoseconds, with negative values as zero and
    /// very long values clamped to `UInt64.max`.
    var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (wholeSeconds, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (total, overflowAgain) = wholeSeconds.addingReportingOverflow(UInt64(max(0, attoseconds / 1_000_000_000)))
        return overflowAgain ? .max : total
    }
}
