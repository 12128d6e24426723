import Foundation
import Synchronization
import Transport

/// An HTTP transport that answers from a script instead of the network, and records every request
/// it was sent, for tests of what is sent and how each answer is handled.
public final class ScriptedTransport: HTTPTransport {
    /// One scripted answer: a response, a transport failure, or a response held until released.
    public enum Answer: Sendable {
        case respond(status: Int, headers: [(name: String, value: String)] = [], body: String = "")
        case fail(TransportError.Kind, message: String)
        /// Answers as `answer` does, after `delay` of real time: a slow or silent agency.
        indirect case after(Duration, Answer)
    }

    private struct State {
        var requests: [HTTPRequest] = []
        var held: [CheckedContinuation<Void, Never>] = []
        var holding = false
    }

    private let state = Mutex(State())
    private let answer: @Sendable (HTTPRequest, Int) -> Answer

    /// - Parameter answer: given each request and how many came before it, what to answer.
    public init(_ answer: @escaping @Sendable (HTTPRequest, Int) -> Answer) {
        self.answer = answer
    }

    /// Answers every request the same way.
    public convenience init(always: Answer) {
        self.init { _, _ in always }
    }

    /// Every request sent so far, in order.
    public var requests: [HTTPRequest] { state.withLock { $0.requests } }

    /// From now on, requests wait (counted in `requests`) until `release()`.
    public func hold() { state.withLock { $0.holding = true } }

    /// Lets every held request go on, and stops holding.
    public func release() {
        let held = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.holding = false
            defer { state.held.removeAll() }
            return state.held
        }
        for continuation in held { continuation.resume() }
    }

    public func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        let index = state.withLock { state -> Int in
            state.requests.append(request)
            return state.requests.count - 1
        }
        await withCheckedContinuation { continuation in
            let wait = state.withLock { state -> Bool in
                guard state.holding else { return false }
                state.held.append(continuation)
                return true
            }
            if !wait { continuation.resume() }
        }
        return try await Self.give(answer(request, index))
    }

    private static func give(_ answer: Answer) async throws(TransportError) -> HTTPResponse {
        switch answer {
        case .respond(let status, let headers, let body):
            return HTTPResponse(status: status, headers: headers, body: Array(body.utf8))
        case .fail(let kind, let message):
            throw TransportError(kind: kind, message: message)
        case .after(let delay, let then):
            try? await Task.sleep(for: delay)
            return try await give(then)
        }
    }
}
