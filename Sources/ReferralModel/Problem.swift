/// An RFC 9457 problem details body. Every error the API returns is one of these.
public struct Problem: Sendable, Codable, Equatable, Error {
    /// A stable URI naming the kind of problem; `ProblemType` lists them.
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    /// For invalid input: every problem found in the body at once.
    public var errors: [FieldIssue]?

    public init(_ kind: ProblemType, detail: String, errors: [FieldIssue]? = nil) {
        self.type = kind.uri
        self.title = kind.title
        self.status = kind.status
        self.detail = detail
        self.errors = errors
    }
}

/// The kinds of problem the API documents, each with its stable type URI and HTTP status.
public enum ProblemType: String, Sendable, CaseIterable {
    case malformedJSON = "malformed-json"
    case invalidReferral = "invalid-referral"
    case invalidRequest = "invalid-request"
    case invalidRules = "invalid-rules"
    case invalidAgencies = "invalid-agencies"
    case approvalRequired = "approval-required"
    case proposalDecided = "proposal-decided"
    case lifecycleConflict = "lifecycle-conflict"
    case preconditionFailed = "precondition-failed"
    case preconditionRequired = "precondition-required"
    case unauthorised = "unauthorised"
    case forbidden = "forbidden"
    case notFound = "not-found"
    case methodNotAllowed = "method-not-allowed"
    case idempotencyConflict = "idempotency-key-reused"
    case bodyTooLarge = "body-too-large"
    case unsupportedMediaType = "unsupported-media-type"
    case tooManyRequests = "too-many-requests"
    case internalError = "internal-error"
    case storageUnavailable = "storage-unavailable"
    case keyConflict = "key-conflict"

    public var uri: String { "urn:switchboard:problem:\(rawValue)" }

    public var status: Int {
        switch self {
        case .malformedJSON: 400
        case .invalidReferral, .invalidRequest, .invalidRules, .invalidAgencies: 422
        case .approvalRequired: 403
        case .proposalDecided, .lifecycleConflict, .keyConflict: 409
        case .preconditionFailed: 412
        case .preconditionRequired: 428
        case .unauthorised: 401
        case .forbidden: 403
        case .notFound: 404
        case .methodNotAllowed: 405
        case .idempotencyConflict: 409
        case .bodyTooLarge: 413
        case .unsupportedMediaType: 415
        case .tooManyRequests: 429
        case .internalError: 500
        case .storageUnavailable: 503
        }
    }

    public var title: String {
        switch self {
        case .malformedJSON: "The body is not valid JSON"
        case .invalidReferral: "The referral is not valid"
        case .invalidRequest: "The request is not valid"
        case .invalidRules: "The rules are not valid"
        case .invalidAgencies: "The agencies are not valid"
        case .approvalRequired: "A second administrator must approve this change"
        case .proposalDecided: "The proposal was already decided"
        case .lifecycleConflict: "Not along the referral's lifecycle"
        case .preconditionFailed: "The rules or agencies have changed since you read them"
        case .preconditionRequired: "If-Match is required"
        case .unauthorised: "An API key is required"
        case .forbidden: "This API key may not do that"
        case .notFound: "Not found"
        case .methodNotAllowed: "Method not allowed"
        case .idempotencyConflict: "Idempotency key already used for a different request"
        case .bodyTooLarge: "The body is too large"
        case .unsupportedMediaType: "Unsupported media type"
        case .tooManyRequests: "Too many requests"
        case .internalError: "Internal error"
        case .storageUnavailable: "The gateway cannot store anything just now"
        case .keyConflict: "The key cannot be made or changed that way"
        }
    }
}
