import Access
import Directory
import Foundation
import Hummingbird
import LDAPClient

/// `GET /healthz`: is Tollgate up and can it reach its directory?
///
/// 200 with `{"status":"ok","directory":"ok","access":"synced","version":…}` when an LDAP
/// read of the suffix succeeds within the client's timeouts and the access replica (if
/// any) is synchronised; 503 with `"directory":"unreachable"` and the LDAP error, or
/// with `"access":"initializing"|"stale"|"unavailable"`, otherwise.
public struct HealthController: Sendable {
    public let store: DirectoryStore
    public let version: String
    public let replica: PolicyReplica?

    public init(store: DirectoryStore, version: String, replica: PolicyReplica? = nil) {
        self.store = store
        self.version = version
        self.replica = replica
    }

    struct Health: ResponseEncodable {
        var status: String
        var directory: String
        var access: String?
        var version: String
        var error: String?
    }

    /// The access replica's state for the health answer, nil without a replica.
    var accessState: String? {
        guard let replica else { return nil }
        switch replica.freshness() {
        case .fresh: return "synced"
        case .stale: return "stale"
        case .unavailable: return replica.hasSynced ? "unavailable" : "initializing"
        }
    }

    public func addRoutes(to router: Router<some RequestContext>) {
        router.get("healthz") { _, _ -> EditedResponse<Health> in
            do {
                guard try await store.client.read(store.layout.suffix, attributes: ["1.1"]) != nil else {
                    return EditedResponse(status: .serviceUnavailable,
                                          response: Health(status: "degraded", directory: "missing suffix", access: accessState, version: version))
                }
                let access = accessState
                let ok = access == nil || access == "synced"
                return EditedResponse(status: ok ? .ok : .serviceUnavailable,
                                      response: Health(status: ok ? "ok" : "degraded", directory: "ok", access: access, version: version))
            } catch {
                return EditedResponse(status: .serviceUnavailable,
                                      response: Health(status: "degraded", directory: "unreachable", access: accessState, version: version,
                                                       error: "\(error)"))
            }
        }
    }
}
