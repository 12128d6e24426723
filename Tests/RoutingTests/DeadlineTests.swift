import Foundation
import ReferralModel
import Routing
import Settings
import Testing

/// Acknowledgement deadlines in working time, Europe/London, bank holidays excepted.
@Suite struct DeadlineTests {
    let holidays: Set<String> = ["2026-12-25", "2026-12-28", "2027-03-26", "2027-03-29"]

    func due(_ urgency: Urgency, from text: String, respondBy: String? = nil) throws -> String {
        let start = try #require(AcknowledgementDeadline.parse(text))
        return Timestamp.string(
            AcknowledgementDeadline.due(urgency: urgency, respondBy: respondBy, from: start, acknowledgement: .init(), bankHolidays: holidays))
    }

    @Test func urgentSkipsNightsWeekendsAndBankHolidays() throws {
        // Christmas Eve 16:00: one hour that day, then Christmas, the weekend and the 28th are closed.
        #expect(try due(.urgent, from: "2026-12-24T16:00:00Z") == "2026-12-29T12:00:00.000Z")
        // Sent at night: the four hours start at 09:00.
        #expect(try due(.urgent, from: "2026-11-24T22:30:00Z") == "2026-11-25T13:00:00.000Z")
    }

    @Test func theClocksChangingOverEasterIsCounted() throws {
        // Thursday 25 March 2027 16:00 GMT; Good Friday and Easter Monday closed; British Summer
        // Time from Sunday, so Tuesday's 09:00 is 08:00 UTC.
        #expect(try due(.urgent, from: "2027-03-25T16:00:00Z") == "2027-03-30T11:00:00.000Z")
    }

    @Test func routineIsTwoWorkingDaysAndEmergencyAnHourAtAnyTime() throws {
        #expect(try due(.routine, from: "2026-11-20T16:00:00Z") == "2026-11-24T16:00:00.000Z")
        #expect(try due(.emergency, from: "2026-11-21T03:00:00Z") == "2026-11-21T04:00:00.000Z")
        #expect(try due(.routine, from: "2026-11-20T16:00:00Z", respondBy: "2026-11-21T10:00:00Z") == "2026-11-21T10:00:00.000Z")
    }
}
