import AdapterConformance
import AdapterKit
import Foundation
import ReferralModel
import Testing

// The smallest complete adapter from docs/ADAPTERS.md, compiled and run through the kit here so
// the guide's example stays true.

/// Posts the person's name and postcode as a form, for a service that books visits.
public struct VisitBookingAdapter: AgencyAdapter {
    public static let name = "visit-booking"
    public static let summary = "Name and postcode as an HTML form post."
    public static let optionSpecs = [OptionSpec("service", .text, required: true, summary: "The service code the booking system expects.")]

    public let mappedFields: Set<ReferralField> = [.givenName, .familyName, .postcode]
    let service: String

    public init(setup: AdapterSetup) throws(AdapterOptionErrors) {
        let reader = OptionReader(setup, specs: Self.optionSpecs)  // unknown, missing and mistyped options
        service = reader.text("service") ?? ""
        try reader.finish()  // every problem at once, with its line
    }

    public func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        func field(_ value: String) -> String { value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }
        let form =
            "service=\(field(service))&name=\(field(referral.subject.givenName + " " + referral.subject.familyName))"
            + "&postcode=\(field(referral.subject.postcode))&reference=\(context.deliveryId)"
        return OutboundRequest(body: Array(form.utf8), contentType: "application/x-www-form-urlencoded")
    }
}

@Suite struct GuideExampleTests {
    @Test func theGuidesAdapterConforms() throws {
        let adapter = try VisitBookingAdapter(setup: setup(["service": .text("falls-visits")]))
        #expect(AdapterConformance.check(adapter).map(\.description) == [])
    }

    @Test func theGuidesAdapterNeedsItsOption() {
        let errors = optionErrors { () throws(AdapterOptionErrors) in try VisitBookingAdapter(setup: setup()) }
        #expect(errors.map(\.message) == ["option 'service' is required"])
    }
}

/// Builds JSON by pasting values in, and sends the NHS number whatever is withheld: the kit must
/// catch both.
struct CarelessAdapter: AgencyAdapter {
    static let name = "careless"
    static let summary = "For testing the kit."
    static let optionSpecs: [OptionSpec] = []
    let mappedFields: Set<ReferralField> = [.familyName, .nhsNumber]
    init(setup: AdapterSetup) throws(AdapterOptionErrors) {}
    func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        let body =
            #"{"name": "\#(referral.subject.familyName)", "nhs": "\#(ExampleReferrals.awkward.subject.nhsNumber ?? "")", "at": "\#(Date().timeIntervalSince1970)"}"#
        return OutboundRequest(body: Array(body.utf8), contentType: "application/json")
    }
    func interpret(_ reply: AgencyReply, context: DeliveryContext) -> DeliveryOutcome { .delivered(agencyReference: nil) }
}

@Suite struct ConformanceKitTests {
    @Test func catchesBrokenEscapingLeaksUnrepeatableRequestsAndWrongOutcomes() throws {
        let failures = AdapterConformance.check(try CarelessAdapter(setup: setup()))
        let checks = Set(failures.map(\.check))
        #expect(checks == ["parses", "minimisation", "repeatable", "outcomes"], "\(failures)")
    }
}
