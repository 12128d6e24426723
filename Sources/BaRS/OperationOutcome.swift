import Foundation
import ReferralModel

/// One problem found in a message, as an `OperationOutcome.issue`: its FHIR issue type, the BaRS
/// error code, what is wrong in words, and the FHIRPath expression of where.
public struct OutcomeIssue: Sendable, Equatable, Error {
    /// The FHIR `IssueType`: `structure`, `required`, `value`, `invalid`, `not-supported`,
    /// `business-rule`, `security`, `forbidden`, `not-found`, `conflict`, `duplicate`, `exception`.
    public var type: String
    public var error: BaRS.ErrorCode
    public var diagnostics: String
    public var expression: String?

    public init(_ type: String, _ error: BaRS.ErrorCode, _ diagnostics: String, at expression: String? = nil) {
        self.type = type
        self.error = error
        self.diagnostics = diagnostics
        self.expression = expression
    }
}

/// Every problem found in one message, reported together.
public struct OutcomeIssues: Error, Sendable, Equatable {
    public var issues: [OutcomeIssue]
    public init(_ issues: [OutcomeIssue]) { self.issues = issues }

    /// The HTTP status of the reply: the most serious issue's (a malformed message before an unprocessable one).
    public var status: Int {
        let statuses = issues.map(\.error.status)
        return statuses.contains(400) ? 400 : statuses.max() ?? 400
    }
}

/// A FHIR R4 `OperationOutcome` with the UK Core profile and BaRS error codes, as BaRS receivers answer.
public enum OperationOutcome {
    public static func document(_ issues: [OutcomeIssue], id: String = Identifier.make()) -> [String: Any] {
        [
            "resourceType": "OperationOutcome", "id": id, "meta": ["profile": [BaRS.operationOutcomeProfile]],
            "issue": issues.map { issue -> [String: Any] in
                var entry: [String: Any] = [
                    "severity": "error", "code": issue.type,
                    "details": ["coding": [["system": BaRS.errorSystem, "code": issue.error.rawValue]]],
                    "diagnostics": issue.diagnostics,
                ]
                if let expression = issue.expression { entry["expression"] = [expression] }
                return entry
            },
        ]
    }

    public static func json(_ issues: [OutcomeIssue]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: document(issues), options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }

    /// The coded parts of a reply's OperationOutcome (severity, issue type, BaRS error codes), never
    /// its free text, which may repeat the person's details.
    public static func codes(in body: [UInt8]) -> (summary: String, errors: [BaRS.ErrorCode], types: [String])? {
        guard let root = try? JSONParser.parse(body) else { return nil }
        let node = FHIRNode(root, path: "OperationOutcome")
        guard node.text("resourceType") == "OperationOutcome", !node.all("issue").isEmpty else { return nil }
        var errors: [BaRS.ErrorCode] = []
        var types: [String] = []
        let summary = node.all("issue").prefix(3).map { issue -> String in
            let type = token(issue.text("code")) ?? "unknown"
            types.append(type)
            var parts = [token(issue.text("severity")) ?? "error", type]
            for (coding, _) in issue["details"]?.codings.prefix(3) ?? [] {
                guard let code = token(coding.code) else { continue }
                parts.append(code)
                if let error = BaRS.ErrorCode(rawValue: code) { errors.append(error) }
            }
            return parts.joined(separator: " ")
        }.joined(separator: "; ")
        return (summary, errors, types)
    }

    /// A code as a reply gave it, when it looks like one (a short token of letters, digits and
    /// `-._:`); nil for anything else, which may be free text.
    public static func token(_ text: String?) -> String? {
        guard let text, (1...64).contains(text.count),
            text.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._:".unicodeScalars.contains($0))
            })
        else { return nil }
        return text
    }
}
