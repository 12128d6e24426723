import Audit
import Testing

func chain(_ count: Int) -> [AuditEvent] {
    var events: [AuditEvent] = []
    var previous = AuditChain.genesis
    for index in 1...count {
        let event = AuditChain.seal(
            AuditEntry(at: "2026-11-23T09:00:0\(index % 10).000Z", kind: .deliveryAttempted, referralId: "r\(index)", detail: "attempt \(index)"),
            sequence: Int64(index), previousHash: previous)
        events.append(event)
        previous = event.hash
    }
    return events
}

@Suite struct AuditChainTests {
    @Test func anUntouchedChainVerifies() {
        let events = chain(5)
        #expect(AuditChain.verify(events) == .intact(events: 5, head: events[4].hash))
        #expect(AuditChain.verify([]) == .intact(events: 0, head: AuditChain.genesis))
    }

    @Test func anEditedEventIsNamed() {
        var events = chain(5)
        events[2].detail = "attempt 3: delivered"
        #expect(AuditChain.verify(events) == .broken(sequence: 3, reason: "its content does not match its hash: it was edited"))
    }

    @Test func anEditThatRecomputesItsOwnHashBreaksTheNextLink() {
        var events = chain(5)
        events[1].agency = "somewhere-else"
        events[1].hash = AuditChain.hash(of: events[1])
        #expect(AuditChain.verify(events) == .broken(sequence: 3, reason: "its previous-hash does not match event 2"))
    }

    @Test func aDeletedEventIsNamed() {
        var events = chain(5)
        events.remove(at: 1)
        guard case .broken(let sequence, _) = AuditChain.verify(events) else {
            Issue.record("not detected")
            return
        }
        #expect(sequence == 2)
    }

    @Test func reorderingIsDetected() {
        var events = chain(4)
        events.swapAt(1, 2)
        guard case .broken(let sequence, _) = AuditChain.verify(events) else {
            Issue.record("not detected")
            return
        }
        #expect(sequence == 2)
    }

    @Test func fieldsCannotBeShiftedBetweenEachOther() {
        let a = AuditChain.seal(
            AuditEntry(at: "t", kind: .referralRouted, actor: "ab", referralId: "c", detail: "d"), sequence: 1, previousHash: AuditChain.genesis)
        let b = AuditChain.seal(
            AuditEntry(at: "t", kind: .referralRouted, actor: "a", referralId: "bc", detail: "d"), sequence: 1, previousHash: AuditChain.genesis)
        let c = AuditChain.seal(
            AuditEntry(at: "t", kind: .referralRouted, actor: nil, referralId: "", detail: "d"), sequence: 1, previousHash: AuditChain.genesis)
        let d = AuditChain.seal(
            AuditEntry(at: "t", kind: .referralRouted, actor: "", referralId: nil, detail: "d"), sequence: 1, previousHash: AuditChain.genesis)
        #expect(a.hash != b.hash)
        #expect(c.hash != d.hash)
    }
}
