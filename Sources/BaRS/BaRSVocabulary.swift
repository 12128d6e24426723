/// The codes, systems and profiles of the NHS Booking and Referral Standard (BaRS) that the gateway
/// reads and writes, in one place; from the BaRS API specification
/// (NHSDigital/booking-and-referral-fhir-api, `specification/booking-and-referral.yaml` and its examples).
public enum BaRS {
    public static let eventSystem = "https://fhir.nhs.uk/CodeSystem/message-events-bars"
    public static let reasonSystem = "https://fhir.nhs.uk/CodeSystem/message-reason-bars"
    public static let categorySystem = "https://fhir.nhs.uk/CodeSystem/message-category-servicerequest"
    public static let errorSystem = "https://fhir.nhs.uk/CodeSystem/http-error-codes"
    public static let nhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"
    public static let odsSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
    public static let dosServiceSystem = "https://fhir.nhs.uk/Id/dos-service-id"
    /// The identifier system the gateway gives its own referral ids on the ServiceRequests it sends and answers with.
    public static let referralIdSystem = "urn:switchboard:referral"
    /// Why a receiver rejected a request (BaRS: RRNA, FC, OTH), and the Directory of Services' reasons.
    public static let rejectedReasonSystem = "https://fhir.nhs.uk/CodeSystem/rejected-reasons-bars"
    public static let dosRejectedReasonSystem = "https://fhir.nhs.uk/CodeSystem/dos-rejected-reasons-bars"
    /// Flag categories; `SG` is a safeguarding concern.
    public static let flagCategorySystem = "https://fhir.nhs.uk/CodeSystem/flag-categories-bars"
    /// The decline reasons an agency may give in a `servicerequest-response` (the API's `DeclineReason` codes).
    public static let declineReasonSystem = "urn:switchboard:decline-reason"

    public static let bundleProfile = "https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage"
    public static let requestHeaderProfile = "https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-request"
    public static let responseHeaderProfile = "https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response"
    public static let serviceRequestProfile = "https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral"
    public static let operationOutcomeProfile = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-OperationOutcome"
    public static let requestDefinition = "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral"
    public static let responseDefinition = "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-response-referral"

    /// The message events the gateway takes in.
    public enum Event: String, Sendable {
        case serviceRequestRequest = "servicerequest-request"
        case serviceRequestResponse = "servicerequest-response"
    }

    /// `MessageHeader.reason`: a new request, an update to one, or its cancellation.
    public enum Reason: String, Sendable {
        case new, update, cancel
    }

    /// The error codes of the specification's 4XX-BARS and 5XX-BARS responses that a receiver
    /// (`REC_`) answers with, each with its HTTP status.
    public enum ErrorCode: String, Sendable {
        case badRequest = "REC_BAD_REQUEST"
        case unauthorized = "REC_UNAUTHORIZED"
        case forbidden = "REC_FORBIDDEN"
        case notFound = "REC_NOT_FOUND"
        case methodNotAllowed = "REC_METHOD_NOT_ALLOWED"
        case notAcceptable = "REC_NOT_ACCEPTABLE"
        case timeout = "REC_TIMEOUT"
        case conflict = "REC_CONFLICT"
        case unprocessable = "REC_UNPROCESSABLE_ENTITY"
        case tooManyRequests = "REC_TOO_MANY_REQUESTS"
        case serverError = "REC_SERVER_ERROR"
        case unavailable = "REC_UNAVAILABLE"

        public var status: Int {
            switch self {
            case .badRequest: 400
            case .unauthorized: 401
            case .forbidden: 403
            case .notFound: 404
            case .methodNotAllowed: 405
            case .notAcceptable: 406
            case .timeout: 408
            case .conflict: 409
            case .unprocessable: 422
            case .tooManyRequests: 429
            case .serverError: 500
            case .unavailable: 503
            }
        }

        /// The code for an HTTP status, as a receiver answers it.
        public init(status: Int) {
            switch status {
            case 401: self = .unauthorized
            case 403: self = .forbidden
            case 404: self = .notFound
            case 405: self = .methodNotAllowed
            case 406: self = .notAcceptable
            case 408: self = .timeout
            case 409: self = .conflict
            case 422: self = .unprocessable
            case 429: self = .tooManyRequests
            case 503: self = .unavailable
            case 500...: self = .serverError
            default: self = .badRequest
            }
        }

        /// Whether a sender may usefully send the same message again later.
        public var isTransient: Bool { [.timeout, .tooManyRequests, .serverError, .unavailable].contains(self) }
    }
}
