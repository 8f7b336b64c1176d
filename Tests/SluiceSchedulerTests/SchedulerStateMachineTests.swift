import Testing
import SluiceCore
@testable import SluiceScheduler

@Suite struct SchedulerStateMachineTests {
    private func noWindow() -> SchedulerConfiguration {
        var configuration = SchedulerConfiguration()
        configuration.batchWait = .zero
        return configuration
    }

    @Test func sequencesJoinAndLeaveAtStepBoundaries() {
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 4)], configuration: noWindow())
        let (first, firstSink) = harness.enqueue(maxNewTokens: 2)
        var plans = harness.schedule()
        #expect(plans.count == 1)
        #expect(plans[0].plan.admit.map(\.id) == [first])

        // A request arriving while the step runs joins at the next boundary.
        let (second, _) = harness.enqueue(maxNewTokens: 3)
        #expect(harness.schedule().isEmpty)
        harness.complete([(first, Array("a".utf8))])
        plans = harness.schedule()
        #expect(plans.count == 1)
        #expect(plans[0].plan.admit.map(\.id) == [second])
        #expect(plans[0].plan.release.isEmpty)

        // The first finishes (max tokens) and is released in the very next plan.
        harness.complete([(first, Array("b".utf8)), (second, Array("x".utf8))])
        #expect(firstSink.finishReason == .length)
        plans = harness.schedule()
        #expect(plans[0].plan.release == [first])
        #expect(harness.machine.runningSequences(worker: 0) == [second])
    }

    @Test func admissionIsFirstInFirstOut() {
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 2)], configuration: noWindow())
        let ids = (0..<5).map { _ in harness.enqueue(maxNewTokens: 1).0 }
        var admittedOrder: [SequenceID] = []
        for _ in 0..<3 {
            let plans = harness.schedule()
            guard let plan = plans.first?.plan else { break }
            admittedOrder += plan.admit.map(\.id)
            harness.complete(plan.admit.map { ($0.id, Array("t".utf8)) })
        }
        #expect(admittedOrder == ids)
    }

    @Test func largeHeadBlocksLaterRequestsSoItDoesNotStarve() {
        var harness = MachineHarness(
            workers: [MachineHarness.capacity(batch: 8, kv: 100)], configuration: noWindow())
        let (small, _) = harness.enqueue(promptLength: 10, maxNewTokens: 40)
        _ = harness.schedule()
        let (large, _) = harness.enqueue(promptLength: 50, maxNewTokens: 40)
        let (later, _) = harness.enqueue(promptLength: 1, maxNewTokens: 1)
        harness.complete([(small, Array("t".utf8))])
        // The large request does not fit beside the running one; the later small one must not pass it.
        let plans = harness.schedule()
        #expect(plans.first?.plan.admit.isEmpty ?? true)
        harness.cancel(small)
        harness.complete([(small, Array("t".utf8))])
        let next = harness.schedule()
        #expect(next.first?.plan.admit.map(\.id) == [large, later])
    }

    @Test func microBatchWindowGroupsArrivals() {
        var configuration = SchedulerConfiguration()
        configuration.batchWait = .milliseconds(2)
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 8)], configuration: configuration)
        let (first, _) = harness.enqueue()
        #expect(harness.schedule().isEmpty)  // The window opens.
        #expect(harness.machine.nextTimer == harness.now + .milliseconds(2))
        harness.advance(.milliseconds(1))
        let (second, _) = harness.enqueue()
        #expect(harness.schedule().isEmpty)
        harness.advance(.milliseconds(1))
        let plans = harness.schedule()
        #expect(plans.first?.plan.admit.map(\.id) == [first, second])
    }

    @Test func microBatchWindowSkippedWhenBatchIsFull() {
        var configuration = SchedulerConfiguration()
        configuration.batchWait = .milliseconds(2)
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 2)], configuration: configuration)
        _ = harness.enqueue()
        _ = harness.enqueue()
        #expect(harness.schedule().first?.plan.admit.count == 2)
    }

    @Test func microBatchWindowSkippedForFastSteps() {
        var configuration = SchedulerConfiguration()
        configuration.batchWait = .milliseconds(2)
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 8)], configuration: configuration)
        var actions = SchedulerActions()
        let (first, _) = harness.enqueue(maxNewTokens: 1)
        harness.advance(.milliseconds(2))
        _ = harness.schedule()
        harness.advance(.milliseconds(2))
        var plans = harness.schedule()
        #expect(plans.count == 1)
        harness.machine.stepCompleted(
            worker: 0,
            result: .success(StepResult(tokens: [StepToken(sequence: first, tokenID: 1, bytes: [65], isEndOfSequence: false)],
                duration: .microseconds(20))),
            now: harness.now, actions: &actions)
        plans = harness.schedule()  // The release-only plan.
        harness.complete([])
        _ = harness.enqueue()
        plans = harness.schedule()
        #expect(plans.first?.plan.admit.count == 1)
    }

    @Test func cancelledSequenceCostsAtMostOneStepAndFreesItsSlot() {
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 1)], configuration: noWindow())
        let (first, firstSink) = harness.enqueue(maxNewTokens: 100)
        _ = harness.schedule()
        let (waiting, _) = harness.enqueue(maxNewTokens: 100)
        harness.complete([(first, Array("a".utf8))])
        _ = harness.schedule()  // Step two runs with the first sequence.

        harness.cancel(first)  // The client leaves while step two runs.
        #expect(firstSink.failure?.code == .cancelled)
        #expect(harness.schedule().isEmpty)  // Busy: nothing is sent mid-step.
        harness.complete([(first, Array("b".utf8))])  // The one step it may still cost.
        #expect(firstSink.events.count == 1)

        let plans = harness.schedule()
        #expect(plans.first?.plan.release == [first])
        #expect(plans.first?.plan.admit.map(\.id) == [waiting])
    }

    @Test func cancelWhileQueuedRemovesRequest() {
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 1)], configuration: noWindow())
        let (running, _) = harness.enqueue()
        _ = harness.schedule()
        let (queued, queuedSink) = harness.enqueue()
        #expect(harness.machine.queueLength == 1)
        harness.cancel(queued)
        #expect(harness.machine.queueLength == 0)
        #expect(queuedSink.failure?.code == .cancelled)
        harness.complete([(running, Array("a".utf8))])
        #expect(harness.schedule().first?.plan.admit.isEmpty ?? true)
    }

    @Test func deadlineExpiresQueuedAndRunningRequests() {
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 1)], configuration: noWindow())
        let (running, runningSink) = harness.enqueue(deadline: harness.now + .milliseconds(10))
        _ = harness.schedule()
        let (queued, queuedSink) = harness.enqueue(deadline: harness.now + .milliseconds(5))
        #expect(harness.machine.nextTimer == harness.now + .milliseconds(5))
        harness.advance(.milliseconds(6))
        _ = harness.schedule()
        #expect(queuedSink.failure?.code == .deadlineExceeded)
        #expect(!runningSink.isEnded)
        harness.advance(.milliseconds(5))
        _ = harness.schedule()
        #expect(runningSink.failure?.code == .deadlineExceeded)
        harness.complete([(running, Array("a".utf8))])
        #expect(harness.schedule().first?.plan.release == [running])
        _ = queued
    }

    @Test func stopSequenceSplitAcrossTokens() {
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 1)], configuration: noWindow())
        let (id, sink) = harness.enqueue(maxNewTokens: 20, stop: ["END"])
        _ = harness.schedule()
        for piece in ["Hello E", "N", "x E", "N", "D tail"] {
            harness.complete([(id, Array(piece.utf8))])
            if sink.isEnded { break }
            _ = harness.schedule()
        }
        #expect(sink.finishReason == .stop)
        #expect(sink.text == "Hello ENx ")
        // Text that might begin the stop sequence is held back, then released when it does not.
        #expect(sink.events.map(\.text) == ["Hello ", "", "ENx ", "", ""])
    }

    @Test func heldStopPrefixIsSentAtMaxTokens() {
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 1)], configuration: noWindow())
        let (id, sink) = harness.enqueue(maxNewTokens: 2, stop: ["STOP"])
        _ = harness.schedule()
        harness.complete([(id, Array("a S".utf8))])
        _ = harness.schedule()
        harness.complete([(id, Array("T".utf8))])
        #expect(sink.finishReason == .length)
        #expect(sink.text == "a ST")
    }

    @Test func multiByteCharacterSplitAcrossTokens() {
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 1)], configuration: noWindow())
        let (id, sink) = harness.enqueue(maxNewTokens: 4)
        _ = harness.schedule()
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]  // €
        let pieces: [[UInt8]] = [[0x41, euro[0]], [euro[1]], [euro[2], 0x42], [0xF0, 0x9F]]
        for piece in pieces {
            harness.complete([(id, piece)])
            _ = harness.schedule()
        }
        #expect(sink.events.map(\.text) == ["A", "", "€B", ""])
        // The sequence ended inside a character: the incomplete bytes become U+FFFD.
        #expect(sink.text == "A€B\u{FFFD}")
        #expect(sink.usage == Usage(promptTokens: 3, completionTokens: 4))
    }

    @Test func endOfSequenceFinishesWithStop() {
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 1)], configuration: noWindow())
        let (id, sink) = harness.enqueue(maxNewTokens: 10)
        _ = harness.schedule()
        harness.complete([(id, Array("hi".utf8))])
        _ = harness.schedule()
        harness.complete([(id, [])], endOfSequence: [id])
        #expect(sink.finishReason == .stop)
        #expect(sink.text == "hi")
        #expect(sink.usage?.completionTokens == 2)
    }

    @Test func requestGoesToWorkerWithMostFreeCapacity() {
        var harness = MachineHarness(
            workers: [MachineHarness.capacity(batch: 8, kv: 1000), MachineHarness.capacity(batch: 8, kv: 1000)],
            configuration: noWindow())
        let (first, _) = harness.enqueue(promptLength: 100, maxNewTokens: 100)
        var plans = harness.schedule()
        #expect(plans.count == 1)
        let busyWorker = plans[0].worker
        harness.complete(worker: busyWorker, [(first, Array("a".utf8))])
        let (second, _) = harness.enqueue(promptLength: 10, maxNewTokens: 10)
        plans = harness.schedule()
        let placed = plans.first { $0.plan.admit.map(\.id) == [second] }
        #expect(placed != nil)
        #expect(placed?.worker != busyWorker)
    }

    @Test func workerFailureFailsItsSequences() {
        var harness = MachineHarness(workers: [MachineHarness.capacity(batch: 2)], configuration: noWindow())
        let (id, sink) = harness.enqueue()
        _ = harness.schedule()
        var actions = SchedulerActions()
        harness.machine.stepCompleted(
            worker: 0, result: .failure(GatewayError(.workerFailed, "boom")), now: harness.now, actions: &actions)
        deliver(actions)
        #expect(sink.failure?.code == .workerFailed)
        #expect(harness.schedule().first?.plan.release == [id])
    }
}
