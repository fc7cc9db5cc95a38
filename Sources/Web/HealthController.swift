import Directory
import Foundation
import Hummingbird
import LDAPClient

/// `GET /healthz`: is Tollgate up and can it reach its directory?
///
/// 200 with `{"status":"ok","directory":"ok","version":…}` when an LDAP read of the
/// suffix succeeds within the client's timeouts, 503 with `"directory":"unreachable"`
/// and the LDAP error otherwise.
public struct HealthController: Sendable {
    public let store: DirectoryStore
    public let version: String

    public init(store: DirectoryStore, version: String) {
        self.store = store
        self.version = version
    }

    struct Health: ResponseEncodable {
        var status: String
        var directory: String
        var version: String
        var error: String?
    }

    public func addRoutes(to router: Router<some RequestContext>) {
        router.get("healthz") { _, _ -> EditedResponse<Health> in
            do {
                guard try await store.client.read(store.layout.suffix, attributes: ["1.1"]) != nil else {
                    return EditedResponse(status: .serviceUnavailable,
                                          response: Health(status: "degraded", directory: "missing suffix", version: version))
                }
                return EditedResponse(status: .ok, response: Health(status: "ok", directory: "ok", version: version))
            } catch {
                return EditedResponse(status: .serviceUnavailable,
                                      response: Health(status: "degraded", directory: "unreachable", version: version, error: "\(error)"))
            }
        }
    }
}
