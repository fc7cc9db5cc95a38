import Foundation

/// Locates Tollgate's shipped files: `schema/tollgate.ldif`, `ldif/base.ldif`,
/// `ldif/acl.ldif` and `ldif/example.ldif`.
///
/// Looked up, first hit wins: `$TOLLGATE_RESOURCES`, the folders above the running
/// executable (a SwiftPM build in a checkout), the folders above the working directory,
/// `/usr/local/share/tollgate`, `/usr/share/tollgate`.
public struct TollgateResources: Sendable {
    /// The folder holding `schema/` and `ldif/`.
    public let root: URL

    public init(root: URL) { self.root = root }

    public var schemaLDIF: URL { root.appendingPathComponent("schema/tollgate.ldif") }
    public var baseLDIF: URL { root.appendingPathComponent("ldif/base.ldif") }
    public var aclLDIF: URL { root.appendingPathComponent("ldif/acl.ldif") }
    public var exampleLDIF: URL { root.appendingPathComponent("ldif/example.ldif") }

    /// Finds the resources or throws ``SlapdError/resourcesNotFound(_:)``.
    public static func locate() throws -> TollgateResources {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["TOLLGATE_RESOURCES"], !env.isEmpty {
            candidates.append(URL(fileURLWithPath: env))
        }
        func ancestors(of url: URL) -> [URL] {
            var list: [URL] = []
            var current = url.standardizedFileURL
            for _ in 0..<8 {
                list.append(current)
                let parent = current.deletingLastPathComponent()
                if parent.path == current.path { break }
                current = parent
            }
            return list
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        candidates += ancestors(of: executable.deletingLastPathComponent())
        candidates += ancestors(of: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        candidates += [URL(fileURLWithPath: "/usr/local/share/tollgate"), URL(fileURLWithPath: "/usr/share/tollgate")]
        for candidate in candidates {
            let resources = TollgateResources(root: candidate)
            if FileManager.default.fileExists(atPath: resources.schemaLDIF.path),
               FileManager.default.fileExists(atPath: resources.baseLDIF.path) {
                return resources
            }
        }
        throw SlapdError.resourcesNotFound(candidates.map(\.path))
    }
}
