import GRDB
import ReferralModel

// Typed ids are stored and read as their text.
extension ReferralID: DatabaseValueConvertible {}
extension DeliveryID: DatabaseValueConvertible {}
extension AgencyID: DatabaseValueConvertible {}
