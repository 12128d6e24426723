import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real, small file system (tmpfs) that a test can fill, so the gateway meets a full disk as it
/// would in production: writes fail with ENOSPC. Needs the right to mount (root, as on the CI
/// machines and here); without it, it throws rather than pretend.
public final class SmallDisk: @unchecked Sendable {
    public let path: URL
    private var filler: URL { path.appendingPathComponent("filler") }

    public struct MountFailed: Error, CustomStringConvertible {
        public var description: String
    }

    public init(megabytes: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("small-disk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        guard mount("tmpfs", path.path, "tmpfs", 0, "size=\(megabytes)m") == 0 else {
            throw MountFailed(description: "cannot mount a \(megabytes) MB tmpfs at \(path.path): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        // Lazily: a store may still hold its files open.
        umount2(path.path, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(at: path)
    }

    /// Writes a file until the disk is full.
    public func fill() throws {
        let descriptor = open(filler.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        defer { close(descriptor) }
        let chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var size = chunk.count
        while size > 0 {
            let written = chunk.withUnsafeBytes { write(descriptor, $0.baseAddress, size) }
            if written < 0 { size /= 2 }  // ENOSPC: try smaller pieces until none fits
        }
    }

    /// Removes what `fill` wrote.
    public func free() throws {
        try FileManager.default.removeItem(at: filler)
    }

    /// Bytes free now.
    public var available: Int64 {
        var stats = statvfs()
        statvfs(path.path, &stats)
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }
}
