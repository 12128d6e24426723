import Delivery
import Foundation
import Testing

@Suite struct WebhookSignerTests {
    // The test vector published with the Standard Webhooks specification.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    let timestamp = 1_614_265_330
    let body = Array(#"{"test": 2432232314}"#.utf8)

    @Test func signsAsTheSpecificationsVectorSays() throws {
        let signer = try #require(WebhookSigner(secret: secret))
        #expect(signer.signature(id: id, timestamp: timestamp, body: body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func verifiesWhatItSignsAndRejectsAnyChange() throws {
        let signer = try #require(WebhookSigner(secret: secret))
        let now = Date(timeIntervalSince1970: Double(timestamp) + 60)
        let signature = signer.signature(id: id, timestamp: timestamp, body: body)
        #expect(throws: Never.self) {
            try signer.verify(id: id, timestamp: String(timestamp), signatures: "v1,bm90IGl0 " + signature, body: body, now: now)
        }
        #expect(throws: WebhookSigner.VerificationFailure.signatureMismatch) {
            try signer.verify(id: id, timestamp: String(timestamp), signatures: signature, body: body + [0x20], now: now)
        }
        #expect(throws: WebhookSigner.VerificationFailure.signatureMismatch) {
            try signer.verify(id: "msg_other", timestamp: String(timestamp), signatures: signature, body: body, now: now)
        }
        #expect(throws: WebhookSigner.VerificationFailure.timestampOutOfTolerance) {
            try signer.verify(id: id, timestamp: String(timestamp), signatures: signature, body: body, now: now.addingTimeInterval(300))
        }
        #expect(throws: WebhookSigner.VerificationFailure.missingHeaders) {
            try signer.verify(id: id, timestamp: nil, signatures: signature, body: body, now: now)
        }
    }

    @Test func refusesSecretsThatAreNotWhsec() {
        #expect(WebhookSigner(secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == nil)
        #expect(WebhookSigner(secret: "whsec_!!!") == nil)
        #expect(WebhookSigner(secret: WebhookSigner.generateSecret()) != nil)
    }

    @Test func duringARotationEachDeliveryCarriesBothSignaturesAndEitherSecretVerifies() throws {
        let next = WebhookSigner.generateSecret()
        let rotating = try #require(WebhookSigner(secrets: [next, secret]))
        let header = rotating.signature(id: id, timestamp: timestamp, body: body)
        let parts = header.split(separator: " ")
        #expect(parts.count == 2)
        #expect(parts.last.map(String.init) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "the old secret's signature is unchanged")
        let now = Date(timeIntervalSince1970: Double(timestamp) + 60)
        // An agency that has not switched yet, and one that has, both accept it.
        for held in [secret, next] {
            let receiver = try #require(WebhookSigner(secret: held))
            #expect(throws: Never.self) { try receiver.verify(id: id, timestamp: String(timestamp), signatures: header, body: body, now: now) }
        }
        let stranger = try #require(WebhookSigner(secret: WebhookSigner.generateSecret()))
        #expect(throws: WebhookSigner.VerificationFailure.signatureMismatch) {
            try stranger.verify(id: id, timestamp: String(timestamp), signatures: header, body: body, now: now)
        }
        #expect(WebhookSigner(secrets: [next, "not-a-secret"]) == nil, "one bad secret spoils the rotation, loudly")
    }
}
