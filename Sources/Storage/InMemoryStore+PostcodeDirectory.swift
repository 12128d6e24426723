import Audit
import Foundation

extension InMemoryStore {
    public func beginPostcodeImport() -> Int {
        postcodeImports.next += 1
        postcodeImports.staged[postcodeImports.next] = [:]
        return postcodeImports.next
    }

    public func addPostcodes(_ places: [PostcodePlace], toImport number: Int) {
        for place in places { postcodeImports.staged[number, default: [:]][place.postcode] = Set(place.localAuthorities) }
    }

    public func finishPostcodeImport(_ number: Int, info: PostcodeDirectoryInfo, audit: [AuditEntry]) {
        postcodeImports.live = postcodeImports.staged[number] ?? [:]
        postcodeImports.info = info
        postcodeImports.staged = [:]
        append(audit)
    }

    public func localAuthorities(of postcode: String) -> Set<String> { postcodeImports.live[postcode] ?? [] }

    public func postcodeDirectory() -> PostcodeDirectoryInfo? { postcodeImports.info }
}

/// The in-memory store's postcode directory: the live one and any imports being staged.
struct PostcodeImports {
    var next = 0
    var staged: [Int: [String: Set<String>]] = [:]
    var live: [String: Set<String>] = [:]
    var info: PostcodeDirectoryInfo?
}
