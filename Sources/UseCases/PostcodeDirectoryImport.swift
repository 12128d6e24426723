import Audit
import Foundation
import ReferralModel
import Storage

/// Imports the ONS Postcode Directory (ONSPD) from its CSV file, so rules, the service area and
/// agencies' coverage can name local authorities by GSS code. The file is read a block at a time
/// (the full directory is about 2.7 million rows, over a gigabyte), its live postcodes are staged
/// in batches, and the new directory replaces the old one in one step, audited, only when the
/// whole file was read: a file that cannot be read changes nothing.
///
/// The columns used are found by name in the header, as ONS has named them across releases: the
/// postcode (`pcds`, or `pcd`, `pcd7`, `pcd8`), its district or unitary authority (`oslaua`, or
/// `ladNNcd`), its county (`oscty`, or `ctyNNcd`; ONS's `E99999999` means none), and the date it
/// was terminated (`doterm`): a terminated postcode is left out.
public struct PostcodeDirectoryImport: Sendable {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// What an import did: the directory now live, and the rows it left out with why (the first few).
    public struct Summary: Sendable {
        public var info: PostcodeDirectoryInfo
        public var terminated: Int
        public var skipped: Int
        public var firstProblems: [String]
    }

    let store: any PostcodeDirectoryStore
    let clock: any WallClock
    let batchSize: Int

    public init(store: any PostcodeDirectoryStore, clock: any WallClock = SystemClock(), batchSize: Int = 20_000) {
        self.store = store
        self.clock = clock
        self.batchSize = batchSize
    }

    public func run(file path: String, actor: String) async throws -> Summary {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Failure(description: "cannot read \(path): check the path and its permissions")
        }
        defer { try? handle.close() }
        var lines = LineReader(handle: handle)
        guard let headerLine = lines.next() else { throw Failure(description: "\(path) is empty: expected the ONS Postcode Directory's CSV") }
        let columns = try Columns(header: CSV.fields(headerLine).map { CSV.text($0, in: headerLine) }, file: path)
        let number = try await store.beginPostcodeImport()
        var batch: [PostcodePlace] = []
        var summary = Summary(
            info: PostcodeDirectoryInfo(
                importedAt: clock.now(), importedBy: actor, source: (path as NSString).lastPathComponent, postcodes: 0, localAuthorities: 0),
            terminated: 0, skipped: 0, firstProblems: [])
        var authorities: Set<String> = []
        var lineNumber = 1
        while let line = lines.next() {
            lineNumber += 1
            if line.isEmpty { continue }
            switch columns.place(line) {
            case .place(let place):
                batch.append(place)
                authorities.formUnion(place.localAuthorities)
            case .terminated:
                summary.terminated += 1
            case .problem(let problem):
                summary.skipped += 1
                if summary.firstProblems.count < 5 { summary.firstProblems.append("line \(lineNumber): \(problem)") }
            }
            if batch.count == batchSize {
                try await store.addPostcodes(batch, toImport: number)
                summary.info.postcodes += batch.count
                batch.removeAll(keepingCapacity: true)
            }
        }
        try await store.addPostcodes(batch, toImport: number)
        summary.info.postcodes += batch.count
        summary.info.localAuthorities = authorities.count
        guard summary.info.postcodes > 0 else {
            throw Failure(description: "\(path) has no live postcode with a local authority; the directory was not changed")
        }
        let previous = try await store.postcodeDirectory()
        try await store.finishPostcodeImport(
            number, info: summary.info,
            audit: [
                AuditNarrative.directoryImported(
                    at: summary.info.importedAt, actor: actor, source: summary.info.source, postcodes: summary.info.postcodes,
                    localAuthorities: summary.info.localAuthorities, replacing: previous?.source)
            ])
        return summary
    }

    /// Where the columns Switchboard reads are in this release of the file.
    struct Columns {
        let postcode: Int
        let district: Int
        let county: Int?
        let terminated: Int?

        init(header: [String], file: String) throws {
            let names = header.map { $0.lowercased() }
            func find(_ exact: [String], pattern: String? = nil) -> Int? {
                for name in exact { if let index = names.firstIndex(of: name) { return index } }
                guard let pattern else { return nil }
                return names.firstIndex { $0.range(of: pattern, options: .regularExpression) != nil }
            }
            guard let postcode = find(["pcds", "pcd", "pcd7", "pcd8", "pcd2"]) else {
                throw Failure(description: "\(file) has no postcode column (pcds): is it the ONS Postcode Directory's CSV, with its header line?")
            }
            guard let district = find(["oslaua"], pattern: "^lad[0-9]{2}cd$") else {
                throw Failure(description: "\(file) has no local authority district column (oslaua or ladNNcd)")
            }
            self.postcode = postcode
            self.district = district
            county = find(["oscty"], pattern: "^cty[0-9]{2}cd$")
            terminated = find(["doterm"])
        }

        enum Row {
            case place(PostcodePlace)
            case terminated
            case problem(String)
        }

        func place(_ line: ArraySlice<UInt8>) -> Row {
            // Only the four columns read are turned into text: the file has over fifty.
            let fields = CSV.fields(line)
            func text(_ index: Int) -> String { CSV.text(fields[index], in: line) }
            guard fields.count > max(postcode, district) else { return .problem("has \(fields.count) columns, fewer than the header") }
            if let terminated, terminated < fields.count, !fields[terminated].isEmpty { return .terminated }
            let written = text(postcode)
            guard let normalised = Postcode.normalise(written) else { return .problem("'\(written)' is not a postcode") }
            var codes: [String] = []
            for index in [district, county].compactMap({ $0 }) where index < fields.count {
                let code = text(index)
                // ONS's pseudo-codes (E99999999 and the like) mean "none"; anything else must be a GSS code.
                if code.isEmpty || code.hasSuffix("99999999") { continue }
                guard OrganisationType.localAuthority.problem(with: code) == nil else {
                    return .problem("'\(code)' is not a local authority's GSS code")
                }
                codes.append(code)
            }
            guard !codes.isEmpty else { return .problem("\(normalised) has no local authority") }
            return .place(PostcodePlace(postcode: normalised, localAuthorities: codes))
        }
    }
}

/// Splits one CSV line (RFC 4180 quoting; ONS quotes every field) into the byte ranges of its
/// fields, without making text of them: a field becomes text only when it is read.
enum CSV {
    static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), carriageReturn = UInt8(ascii: "\r")

    /// Each field's bytes, quotes removed (a doubled quote inside stays doubled until `text`).
    static func fields(_ line: ArraySlice<UInt8>) -> [Range<Int>] {
        var fields: [Range<Int>] = []
        fields.reserveCapacity(64)
        var index = line.startIndex
        var end = line.endIndex
        if end > index, line[end - 1] == carriageReturn { end -= 1 }
        while true {
            if index < end, line[index] == quote {
                // Quoted: up to the quote that is not doubled.
                var close = index + 1
                while close < end {
                    if line[close] == quote {
                        if close + 1 < end, line[close + 1] == quote {
                            close += 2
                            continue
                        }
                        break
                    }
                    close += 1
                }
                fields.append((index + 1)..<min(close, end))
                index = min(close + 1, end)
                while index < end, line[index] != comma { index += 1 }
            } else {
                var next = index
                while next < end, line[next] != comma { next += 1 }
                fields.append(index..<next)
                index = next
            }
            guard index < end else { break }
            index += 1  // the comma
            if index == end {
                fields.append(end..<end)
                break
            }
        }
        return fields
    }

    static func text(_ range: Range<Int>, in line: ArraySlice<UInt8>) -> String {
        let text = String(decoding: line[range], as: UTF8.self)
        return (text.contains("\"\"") ? text.replacingOccurrences(of: "\"\"", with: "\"") : text).trimmingCharacters(in: .whitespaces)
    }
}

/// Reads a file's lines a megabyte at a time.
struct LineReader {
    let handle: FileHandle
    var buffer: [UInt8] = []
    /// Where the next line starts in `buffer`.
    var position = 0
    var finished = false

    init(handle: FileHandle) { self.handle = handle }

    mutating func next() -> ArraySlice<UInt8>? {
        while true {
            if let newline = buffer[position...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[position..<newline]
                position = newline + 1
                return line
            }
            if finished {
                guard position < buffer.count else { return nil }
                let line = buffer[position...]
                position = buffer.count
                return line
            }
            buffer.removeFirst(position)
            position = 0
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { finished = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}
