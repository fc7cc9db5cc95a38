import ArgumentParser
import Directory
import Foundation
import LDAPClient
import ManagedSlapd

/// How a command reaches the directory: the managed slapd under `--data`, or any
/// slapd at `--ldap-url` with credentials.
struct DirectoryOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory of the managed slapd (reached over its ldapi:// socket).")
    var data: String?

    @Option(name: .long, help: "LDAP port of the managed slapd (default: the port recorded at init, else 3389).")
    var ldapPort: Int?

    @Option(name: .long, help: "URL of an external directory instead of --data (ldap://, ldaps:// or ldapi://).")
    var ldapUrl: String?

    @Option(name: .long, help: "Bind DN for --ldap-url (default: anonymous; with ldapi:// and no DN: SASL EXTERNAL).")
    var bindDn: String?

    @Option(name: .long, help: "File holding the bind password (or set TOLLGATE_LDAP_PASSWORD).")
    var passwordFile: String?

    func validate() throws {
        if data == nil && ldapUrl == nil {
            throw ValidationError("give --data DIR (the managed slapd) or --ldap-url URL")
        }
        if data != nil && ldapUrl != nil {
            throw ValidationError("give either --data or --ldap-url, not both")
        }
    }

    /// The managed instance, when `--data` was given.
    var managed: ManagedSlapd? { data.map { ManagedSlapd(dataDirectory: $0, ldapPort: ldapPort) } }

    func configuration(maximumConnections: Int = 4) throws -> LDAPConfiguration {
        SignalSafety.ignoreSIGPIPE
        if let managed {
            guard managed.isInitialized else { throw SlapdError.notInitialized(managed.layout.root.path) }
            return LDAPConfiguration(url: managed.ldapiURL, credentials: .saslExternal, maximumConnections: maximumConnections)
        }
        guard let url = ldapUrl else { throw ValidationError("give --data DIR or --ldap-url URL") }
        let credentials: LDAPCredentials
        if let bindDn {
            credentials = .simple(dn: DistinguishedName(bindDn), password: try password())
        } else if url.hasPrefix("ldapi://") {
            credentials = .saslExternal
        } else {
            credentials = .anonymous
        }
        return LDAPConfiguration(url: url, credentials: credentials, maximumConnections: maximumConnections)
    }

    private func password() throws -> String {
        if let passwordFile {
            let text = try String(contentsOfFile: passwordFile, encoding: .utf8)
            return text.trimmingCharacters(in: .newlines)
        }
        if let env = ProcessInfo.processInfo.environment["TOLLGATE_LDAP_PASSWORD"] { return env }
        throw ValidationError("--bind-dn needs --password-file FILE or TOLLGATE_LDAP_PASSWORD")
    }

    func store() throws -> DirectoryStore {
        DirectoryStore(client: LDAPClient(configuration: try configuration()))
    }
}
