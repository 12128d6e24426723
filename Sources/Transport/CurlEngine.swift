import CCurl
import Foundation
import Synchronization

/// One transfer in flight: owned by the engine thread from `enqueue` until completion.
final class Transfer: @unchecked Sendable {  // Handed once from the caller to the engine thread, then touched only there.
    let request: HTTPRequest
    let continuation: CheckedContinuation<Result<HTTPResponse, TransportError>, Never>
    var responseBody: [UInt8] = []
    var responseHeaders: [(name: String, value: String)] = []
    var headerList: UnsafeMutablePointer<curl_slist>?
    var handle: UnsafeMutableRawPointer?

    init(request: HTTPRequest, continuation: CheckedContinuation<Result<HTTPResponse, TransportError>, Never>) {
        self.request = request
        self.continuation = continuation
    }
}

private let writeBody: sb_curl_data_callback = { data, size, count, context in
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    data.withMemoryRebound(to: UInt8.self, capacity: length) {
        transfer.responseBody.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
    }
    return length
}

private let writeHeader: sb_curl_data_callback = { data, size, count, context in
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
    if line.hasPrefix("HTTP/") {
        // A new response (after 100 Continue or a redirect) starts a new header block.
        transfer.responseHeaders.removeAll()
    } else if let colon = line.firstIndex(of: ":") {
        let name = trimmedOWS(line[..<colon])
        let value = trimmedOWS(line[line.index(after: colon)...])
        transfer.responseHeaders.append((name, value))
    }
    return length
}

/// A header line's part without the whitespace HTTP allows around it (spaces and tabs, RFC 9110
/// §5.6.3) or the line's end: in Swift, as Foundation's trimming goes through NSString on Linux
/// for every header of every delivery.
private func trimmedOWS(_ text: Substring) -> String {
    let utf8 = text.utf8
    let space: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
    guard let first = utf8.firstIndex(where: { !space($0) }), let last = utf8.lastIndex(where: { !space($0) }) else { return "" }
    return String(decoding: utf8[first...last], as: UTF8.self)
}

/// Owns the multi handle and the thread that drives it.
final class CurlEngine: Sendable {
    private struct Shared {
        var incoming: [Transfer] = []
        var started = false
        var stopping = false
        /// Stopping without waiting: transfers in flight end at once, failed.
        var abandoning = false
        /// The multi handle has been cleaned up; nothing may touch it.
        var closed = false
        /// Waiting for the thread to finish its transfers and exit.
        var waitingForStop: [CheckedContinuation<Void, Never>] = []
    }

    private let shared = Mutex(Shared())
    // The multi handle is used only by the engine thread, except curl_multi_wakeup, which libcurl
    // documents as safe to call from any thread. Wake-ups and the final cleanup both happen under
    // the lock, so a wake-up never reaches a handle that is gone.
    nonisolated(unsafe) private let multi: UnsafeMutableRawPointer

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// - Parameter maxHostConnections: connections open at once to one host, reused between
    ///   requests; HTTP/2 servers multiplex requests over them instead of opening more.
    init(maxHostConnections: Int = 64) {
        _ = Self.globalInit
        multi = curl_multi_init()
        sb_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxHostConnections)
        sb_curl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
    }

    /// Starts the thread that drives every transfer; transfers enqueued before it wait for it.
    func start() {
        let first = shared.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started && !state.stopping
        }
        guard first else { return }
        let thread = Thread { [self] in self.run() }
        thread.name = "switchboard-curl"
        thread.start()
    }

    /// Returns once the thread has finished its transfers and exited (at once if it never started).
    func waitUntilStopped() async {
        await withCheckedContinuation { continuation in
            let done = shared.withLock { state -> Bool in
                if state.closed || !state.started { return true }
                state.waitingForStop.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    func enqueue(_ transfer: Transfer) {
        let accepted = shared.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.incoming.append(transfer)
            curl_multi_wakeup(multi)
            return true
        }
        guard accepted else {
            transfer.continuation.resume(returning: .failure(TransportError(kind: .other, message: "the HTTP client is shut down")))
            return
        }
    }

    func stop() {
        let stranded = shared.withLock { state -> [Transfer] in
            guard !state.stopping else { return [] }
            state.stopping = true
            if !state.closed { curl_multi_wakeup(multi) }
            // Without a thread nobody would ever answer what was enqueued.
            guard !state.started else { return [] }
            defer { state.incoming.removeAll() }
            return state.incoming
        }
        for transfer in stranded {
            transfer.continuation.resume(returning: .failure(TransportError(kind: .other, message: "the HTTP client is shut down")))
        }
    }

    /// Stops at once: transfers in flight fail with "abandoned", so their callers can record that
    /// and go; the agency may still have received them (a retry sends the same webhook-id).
    func abandon() {
        shared.withLock { state in
            state.abandoning = true
            state.stopping = true
            if !state.closed { curl_multi_wakeup(multi) }
        }
        stop()
    }

    private func run() {
        var active: [UnsafeMutableRawPointer: Transfer] = [:]
        while true {
            let (incoming, stopping, abandoning) = shared.withLock { state in
                defer { state.incoming.removeAll() }
                return (state.incoming, state.stopping, state.abandoning)
            }
            if abandoning {
                for (handle, transfer) in active {
                    curl_multi_remove_handle(multi, handle)
                    cleanUp(transfer, handle: handle)
                    transfer.continuation.resume(returning: .failure(TransportError(kind: .other, message: "abandoned at shutdown")))
                }
                for transfer in incoming {
                    transfer.continuation.resume(returning: .failure(TransportError(kind: .other, message: "the HTTP client is shut down")))
                }
                break
            }
            for transfer in incoming {
                if let handle = start(transfer) { active[handle] = transfer }
            }
            if stopping && active.isEmpty && incoming.isEmpty { break }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
                let code = sb_curl_message_result(message)
                if let transfer = active.removeValue(forKey: handle) { finish(transfer, handle: handle, code: code) }
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        let waiting = shared.withLock { state in
            state.closed = true
            curl_multi_cleanup(multi)
            defer { state.waitingForStop.removeAll() }
            return state.waitingForStop
        }
        for waiter in waiting { waiter.resume() }
    }

    private func start(_ transfer: Transfer) -> UnsafeMutableRawPointer? {
        guard let handle = curl_easy_init() else {
            transfer.continuation.resume(returning: .failure(TransportError(kind: .other, message: "libcurl could not create a handle")))
            return nil
        }
        let request = transfer.request
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        sb_curl_setopt_string(handle, CURLOPT_URL, request.url)
        sb_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        sb_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        sb_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000))
        sb_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(request.totalTimeout * 1000))
        // Redirects are never followed (libcurl's default, said here so it stays so): a referral
        // goes only where agencies.yaml says.
        sb_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        // HTTP/2 where an https agency offers it, waiting for a connection that can multiplex.
        sb_curl_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        sb_curl_setopt_long(handle, CURLOPT_PIPEWAIT, 1)
        sb_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
        sb_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
        if let tls = request.tls {
            if let caFile = tls.caFile { sb_curl_setopt_string(handle, CURLOPT_CAINFO, caFile) }
            if let certificate = tls.certificateFile { sb_curl_setopt_string(handle, CURLOPT_SSLCERT, certificate) }
            if let key = tls.keyFile { sb_curl_setopt_string(handle, CURLOPT_SSLKEY, key) }
        }
        sb_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, writeBody)
        sb_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        sb_curl_setopt_callback(handle, CURLOPT_HEADERFUNCTION, writeHeader)
        sb_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        switch request.method {
        case "GET":
            sb_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        case "HEAD":
            sb_curl_setopt_long(handle, CURLOPT_NOBODY, 1)
        default:
            sb_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if !request.body.isEmpty || request.method == "POST" || request.method == "PUT" {
            sb_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            request.body.withUnsafeBytes { bytes in
                _ = sb_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
            }
        }
        // The gateway's server never answers `Expect: 100-continue`: don't wait a second for it.
        var list: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Expect:")
        for header in request.headers {
            list = curl_slist_append(list, "\(header.name): \(header.value)")
        }
        transfer.headerList = list
        sb_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        transfer.handle = handle
        let code = curl_multi_add_handle(multi, handle)
        guard code == CURLM_OK else {
            cleanUp(transfer, handle: handle)
            transfer.continuation.resume(returning: .failure(TransportError(kind: .other, message: "libcurl could not start the transfer")))
            return nil
        }
        return handle
    }

    private func finish(_ transfer: Transfer, handle: UnsafeMutableRawPointer, code: CURLcode) {
        var status = 0
        sb_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        curl_multi_remove_handle(multi, handle)
        cleanUp(transfer, handle: handle)
        if code == CURLE_OK {
            transfer.continuation.resume(
                returning: .success(HTTPResponse(status: status, headers: transfer.responseHeaders, body: transfer.responseBody)))
            return
        }
        let kind: TransportError.Kind =
            switch code {
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: .couldNotConnect
            case CURLE_OPERATION_TIMEDOUT: .timedOut
            case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
                CURLE_SSL_CACERT_BADFILE:
                .tls
            case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: .invalidRequest
            default: .other
            }
        let message = String(cString: curl_easy_strerror(code))
        transfer.continuation.resume(returning: .failure(TransportError(kind: kind, message: message)))
    }

    private func cleanUp(_ transfer: Transfer, handle: UnsafeMutableRawPointer) {
        curl_easy_cleanup(handle)
        curl_slist_free_all(transfer.headerList)
        transfer.headerList = nil
        transfer.handle = nil
    }
}
