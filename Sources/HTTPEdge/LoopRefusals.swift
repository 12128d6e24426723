import ReferralModel
import UseCases

/// The referral loop's refusals (answers, cancellations, amendments, attention) as problems, the
/// same for the API and the console.
extension ProblemResponse {
    public init(_ refusal: ReferralLoop.Refusal) {
        self =
            switch refusal {
            case .notFound: ProblemResponse(.notFound, detail: "There is no such referral or open attention item.")
            case .noAgency:
                ProblemResponse(.forbidden, detail: "This agency key answers for no agency: give it `agency: ID` in switchboard.yaml.")
            case .notYours: ProblemResponse(.forbidden, detail: "This referral was not sent to your agency. The attempt is audited.")
            case .notAlong(let current):
                ProblemResponse(
                    .lifecycleConflict,
                    detail:
                        "Your delivery of this referral is \(current.rawValue): a referral is accepted or declined once delivered, and completed once accepted."
                )
            case .agencyNotAllowed(let agency, let why):
                ProblemResponse(.invalidRequest, detail: "It cannot go to \(agency): \(why).", errors: [FieldIssue(pointer: "/agency", detail: why)])
            case .questionRequired:
                ProblemResponse(
                    .invalidRequest, detail: "A referral returned for more information must say what is missing.",
                    errors: [
                        FieldIssue(
                            pointer: "/text", detail: "is required with reason insufficient-information: the question the referrer is to answer.")
                    ])
            }
    }
}
