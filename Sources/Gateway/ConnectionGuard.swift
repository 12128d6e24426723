import NIOCore
import NIOHTTPTypes
import Synchronization

/// The open connections, against the configured caps. A connection that has not yet sent a
/// complete request is *idle*; one that has is *proven*. Past `limit` open connections a new one
/// takes the place of the oldest idle connection (closed at once), so a flood of connections that
/// never send a request cannot keep out clients that do; when every open connection is proven,
/// the new one is closed. One address may hold at most `perAddress` connections, so a single
/// client cannot fill the server; a trusted proxy's address is not capped, since it carries many
/// clients (a proxy opens a connection to the gateway only once a client's request has arrived).
final class ConnectionCount: Sendable {
    let limit: Int
    let perAddress: Int
    private let isProxy: @Sendable (String) -> Bool

    private struct Entry {
        var address: String?
        var proven: Bool
        var channel: any Channel
    }

    private struct State {
        var next = 0
        var open: [Int: Entry] = [:]
        var byAddress: [String: Int] = [:]
        var idle = 0

        mutating func remove(_ ticket: Int) -> Entry? {
            guard let entry = open.removeValue(forKey: ticket) else { return nil }
            if let address = entry.address {
                byAddress[address, default: 1] -= 1
                if byAddress[address] == 0 { byAddress[address] = nil }
            }
            if !entry.proven { idle -= 1 }
            return entry
        }
    }

    private let state = Mutex(State())

    init(limit: Int, perAddress: Int? = nil, isProxy: @escaping @Sendable (String) -> Bool = { _ in false }) {
        self.limit = limit
        self.perAddress = perAddress ?? limit
        self.isProxy = isProxy
    }

    /// Counts a new connection from `address`: its ticket, or nil (and not counted) when its
    /// address is at its cap, or the server is full of proven connections.
    func admit(_ channel: any Channel, address: String?) -> Int? {
        let capped = address.map { !isProxy($0) } ?? false
        let (ticket, evicted) = state.withLock { state -> (Int?, (any Channel)?) in
            if capped, let address, state.byAddress[address, default: 0] >= perAddress { return (nil, nil) }
            var evicted: (any Channel)?
            if state.open.count >= limit {
                // The oldest idle connection gives up its place.
                guard state.idle > 0, let oldest = state.open.filter({ !$0.value.proven }).keys.min() else { return (nil, nil) }
                evicted = state.remove(oldest)?.channel
            }
            let ticket = state.next
            state.next += 1
            state.open[ticket] = Entry(address: address, proven: false, channel: channel)
            if let address { state.byAddress[address, default: 0] += 1 }
            state.idle += 1
            return (ticket, evicted)
        }
        evicted?.close(promise: nil)
        return ticket
    }

    /// The connection has sent a complete request: it is no longer idle, and keeps its place.
    func prove(_ ticket: Int) {
        state.withLock { state in
            guard state.open[ticket]?.proven == false else { return }
            state.open[ticket]?.proven = true
            state.idle -= 1
        }
    }

    func release(_ ticket: Int) {
        _ = state.withLock { $0.remove(ticket) }
    }
}

/// Keeps slow or idle clients from holding the server: a connection must send each request's
/// headers within `headerTimeout` of opening or of its last response (so a client dribbling a
/// byte every few seconds is closed), and its body within `bodyTimeout` of the headers. While the
/// gateway works on a request no timer runs. Past the caps `ConnectionCount` keeps, a new
/// connection is closed at once, or the oldest idle one is.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connections: ConnectionCount
    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var ticket: Int?
    private var proven = false
    private var started = false

    init(connections: ConnectionCount, headerTimeout: TimeAmount, bodyTimeout: TimeAmount) {
        self.connections = connections
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        ticket = connections.admit(context.channel, address: context.channel.remoteAddress?.ipAddress)
        if ticket != nil {
            schedule(headerTimeout, context)
        } else {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if let ticket {
            self.ticket = nil
            connections.release(ticket)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if let ticket {
            self.ticket = nil
            connections.release(ticket)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: schedule(bodyTimeout, context)
        case .end:
            timer?.cancel()
            timer = nil
            if !proven, let ticket {
                proven = true
                connections.prove(ticket)
            }
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { schedule(headerTimeout, context) }
        context.write(data, promise: promise)
    }

    private func schedule(_ delay: TimeAmount, _ context: ChannelHandlerContext) {
        timer?.cancel()
        let loop = context.eventLoop.assumeIsolated()
        timer = loop.scheduleTask(in: delay) { [weak self] in
            guard self != nil else { return }
            context.close(promise: nil)
        }
    }
}
