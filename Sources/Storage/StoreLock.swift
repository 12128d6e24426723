import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive claim on a SQLite store by the one process that delivers from it: a `flock` on
/// `<database>.lock`, released by the kernel when the process ends however it ends. While a gateway
/// holds it, a second gateway on the same file refuses to start, so every lease the store finds
/// at start belonged to a process that is gone.
final class StoreLock: Sendable {
    let path: String
    private let descriptor: Int32

    /// Another process holds the store.
    struct Held: Error, CustomStringConvertible {
        var databasePath: String
        var description: String {
            "another Switchboard gateway is already running on \(databasePath); stop it first, or give this one its own storage.url"
        }
    }

    init(database: String) throws {
        path = database + ".lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw Held(databasePath: database)
        }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
