import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird

/// The forms the console's pages post, each a typed struct decoded by Hummingbird's
/// `URLEncodedFormDecoder`. Every member is optional: a missing answer is a sentence on the page,
/// never a decoding error. Several values of one name are sent as `name[]`.
enum ConsoleForm {
    /// Reads the form a request carries: `application/x-www-form-urlencoded` only, at most 1 MiB.
    static func decode<Form: Decodable>(_ type: Form.Type, from request: Request) async throws -> Form {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/x-www-form-urlencoded" else {
            throw ConsoleRefusal(status: .unsupportedMediaType, message: "This page takes only a form sent from the console.")
        }
        let body = try await request.body.collect(upTo: BodyLimitMiddleware.limit)
        do {
            return try URLEncodedFormDecoder().decode(Form.self, from: String(decoding: body.readableBytesView, as: UTF8.self))
        } catch {
            throw ConsoleRefusal(
                status: .badRequest, message: "The form could not be read, so nothing was changed. Go back, reload the page and try again.")
        }
    }

    /// `text` without surrounding spaces; nil when absent or blank.
    static func trimmed(_ text: String?) -> String? {
        guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        return text
    }
}

/// The security token every form carries, checked before any form is handled.
struct TokenForm: Decodable, Sendable {
    var csrf: String?
}

struct SignInForm: Decodable, Sendable {
    var csrf: String?
    var next: String?
    /// `password` to sign in with a key's name and password; else with the key itself.
    var method: String?
    var key: String?
    var name: String?
    var password: String?
}

struct PasswordForm: Decodable, Sendable {
    var current: String?
    var password: String?
    var repeated: String?

    enum CodingKeys: String, CodingKey {
        case current, password
        case repeated = "repeat"
    }
}

/// Re-route an attention item to an agency, or close it with a reason.
struct ResolveForm: Decodable, Sendable {
    var action: String?
    var agency: String?
    var reason: String?
}

/// The dead letters ticked to go back in the queue.
struct RetryForm: Decodable, Sendable {
    var delivery: [String]?
}

struct PauseForm: Decodable, Sendable {
    var reason: String?
}

/// An agency's answer from its inbox: accepted, declined with a reason, or completed.
struct AnswerForm: Decodable, Sendable {
    var status: String?
    var reason: String?
    var text: String?
    var reference: String?
}

/// A referrer's answer to an agency's question.
struct QuestionAnswerForm: Decodable, Sendable {
    var answer: String?
    var phone: String?
}

/// A rules or agencies text to check, dry-run, test, apply or propose.
struct EditorForm: Decodable, Sendable {
    var text: String?
    var base: String?
    var referral: String?
    var referralId: String?
    /// `check`, `apply`, or `test-AGENCY`.
    var action: String?
}

struct RollbackForm: Decodable, Sendable {
    var number: String?
    var base: String?
}

/// Approving or rejecting a proposal; a rejection may say why.
struct DecisionForm: Decodable, Sendable {
    var reason: String?
}

/// The referral form's answers by field name (each a JSON Pointer into the referral, `/needs[]`
/// for the ticked needs), and the form's own submission token. Its fields come from the needs
/// vocabulary and the key's organisations, so they are read by name rather than into members.
struct ReferralAnswers: Decodable, Sendable {
    private var values: [String: [String]] = [:]

    init() {}

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Name.self)
        for key in container.allKeys {
            if let one = try? container.decode(String.self, forKey: key) {
                values[key.stringValue] = [one]
            } else if let many = try? container.decode([String].self, forKey: key) {
                values[key.stringValue] = many
            }
        }
    }

    /// The value of `name`; nil when absent.
    subscript(_ name: String) -> String? { values[name]?.first }

    /// Every value of `name` (ticked boxes).
    func all(_ name: String) -> [String] { values[name] ?? [] }

    private struct Name: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
