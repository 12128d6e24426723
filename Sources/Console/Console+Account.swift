import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import ReferralModel
import Settings
import UseCases

/// A person's own account page: who they are signed in as, and the console password they may set
/// to sign in with their key's name instead of the key itself.
extension Console {
    func addAccountRoutes(_ group: RouterGroup<GatewayContext>) {
        group.get("account") { _, context in try await account(context: context) }
        group.post("account/password") { request, context in try await setPassword(request, context: context) }
    }

    func account(context: GatewayContext, problem: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        guard let principal = context.principal else { throw ConsoleRefusal(status: .unauthorized, message: "Sign in first.") }
        let page = AccountPage(
            keyId: principal.keyId, owner: principal.actor, roleName: Self.roleName(principal.role), agency: principal.agency,
            hasPassword: try await components.consolePasswords.isSet(keyId: principal.keyId), minimum: ConsolePasswords.minimumLength,
            problem: problem)
        return pages.page(.account, frame(context, title: "Your account"), page, status: status)
    }

    func setPassword(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ConsoleRefusal(status: .unauthorized, message: "Sign in first.") }
        let form = try await ConsoleForm.decode(PasswordForm.self, from: request)
        let password = form.password ?? ""
        guard password == form.repeated else {
            return try await account(context: context, problem: "The two new passwords are not the same.", status: .unprocessableContent)
        }
        do {
            try await components.consolePasswords.set(password, current: form.current, keyId: principal.keyId, actor: principal.actor)
        } catch let refusal as ConsolePasswords.Refusal {
            return try await account(context: context, problem: refusal.reason, status: .unprocessableContent)
        }
        await tell(context, "Your password is set. Next time, sign in with your key's name, \(principal.keyId), and this password.")
        return ConsolePages.redirect("/console/account")
    }
}

struct AccountPage: Sendable {
    var keyId: String
    var owner: String
    var roleName: String
    var agency: AgencyID?
    var hasPassword: Bool
    var minimum: Int
    var problem: String?
}
