import Foundation
import SwitchboardTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The tests start hundreds of programs (gateways, receivers, openssl, psql). Foundation's
/// `Process` crashed a run in about one in five by over-reading `/proc/self/fd`; these prove the
/// launcher the tests use instead holds up under the same conditions, and that what it starts
/// cannot outlive the run.
@Suite struct ProcessLaunchTests {
    /// Opens `count` descriptors (files and sockets) and keeps them open while `body` runs.
    private func withOpenDescriptors<T>(_ count: Int, _ body: () async throws -> T) async rethrows -> T {
        var descriptors: [Int32] = []
        for index in 0..<count {
            descriptors.append(index.isMultiple(of: 2) ? open("/dev/null", O_RDONLY | O_CLOEXEC) : socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0))
        }
        defer { for descriptor in descriptors where descriptor >= 0 { close(descriptor) } }
        #expect(descriptors.allSatisfy { $0 >= 0 })
        return try await body()
    }

    @Test func twoThousandShortProgramsFromEightTasksAtOnceWithThreeHundredDescriptorsOpen() async throws {
        let statuses = try await withOpenDescriptors(300) {
            try await withThrowingTaskGroup(of: [Int32].self) { group in
                for task in 0..<8 {
                    group.addTask {
                        try await TestPostgres.offThread {
                            try (0..<250).map { index -> Int32 in
                                if index.isMultiple(of: 2) { return try ChildProcess(["/bin/true"]).waitUntilExit() }
                                // Half of them print, so output files are in play too.
                                let (status, output) = try ChildProcess.run(["/bin/sh", "-c", "echo \(task)-\(index)"])
                                return output == "\(task)-\(index)\n" ? status : -1
                            }
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        #expect(statuses.count == 2_000)
        #expect(statuses.allSatisfy { $0 == 0 })
    }

    @Test func aChildHoldsNoDescriptorOfTheTestsButItsOwnThree() async throws {
        let listing = try await withOpenDescriptors(50) {
            try await TestPostgres.offThread { try ChildProcess.check(["/bin/ls", "/proc/self/fd"]) }
        }
        // ls itself opens one to list the folder.
        let descriptors = listing.split(separator: "\n").compactMap { Int($0) }.filter { $0 > 2 }
        #expect(descriptors.count <= 1, "\(listing)")
    }

    @Test func aChildIsKilledWhenTheTestProcessEndsAndLeadsItsOwnGroup() async throws {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("pdeathsig-\(UUID().uuidString)").path
        defer { unlink(report) }
        // Python asks the kernel what the child's parent-death signal and process group are.
        let child = try ChildProcess(
            [
                "python3", "-c",
                "import ctypes, os; libc = ctypes.CDLL(None); s = ctypes.c_int(); libc.prctl(2, ctypes.byref(s)); print(s.value, os.getpgid(0) == os.getpid())",
            ], output: .file(report))
        #expect(try await child.exit() == 0)
        let answer = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
        #expect(answer == "\(SIGKILL) True\n")
    }

    @Test func aChildOutlivesTheThreadThatAskedForIt() async throws {
        // Linux sends the parent-death signal when the forking thread ends: every fork is made on
        // one launcher thread that lives as long as the process, so a short-lived thread's child lives on.
        let child = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ChildProcess, any Error>) in
            Thread.detachNewThread { continuation.resume(with: Result { try ChildProcess(["/bin/sleep", "30"]) }) }
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(child.isRunning)
        child.signal(SIGTERM)
        #expect(try await child.exit() == 128 + SIGTERM)
    }

    @Test func aMissingProgramIsAnErrorThatNamesIt() {
        #expect(throws: ChildProcess.LaunchFailure.self) { try ChildProcess(["/nonexistent/program"]) }
        #expect(throws: ChildProcess.LaunchFailure.self) { try ChildProcess(["no-such-program-anywhere"]) }
    }
}
