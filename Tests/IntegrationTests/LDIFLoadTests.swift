import Foundation
import LDAPClient
import ManagedSlapd
import TestSupport
import Testing

/// The shipped schema and LDIF files, loaded with OpenLDAP's own tools.
@Suite("Schema and LDIF with ldapadd/ldapsearch")
struct LDIFLoadTests {
    @Test("schema/tollgate.ldif loads with ldapadd into a running slapd that has only Debian's schemas")
    func schemaLoadsWithLdapadd() async throws {
        let dir = temporaryDirectory("schema")
        let slapd = ManagedSlapd(dataDirectory: dir, ldapPort: freePort())
        // A minimal cn=config with Debian's core, cosine, nis and inetorgperson only.
        let config = """
        dn: cn=config
        objectClass: olcGlobal
        cn: config
        olcPidFile: \(slapd.layout.pidFile.path)

        dn: cn=module{0},cn=config
        objectClass: olcModuleList
        cn: module{0}
        olcModulePath: /usr/lib/ldap
        olcModuleLoad: back_mdb

        dn: cn=schema,cn=config
        objectClass: olcSchemaConfig
        cn: schema

        include: file:///etc/ldap/schema/core.ldif

        include: file:///etc/ldap/schema/cosine.ldif

        include: file:///etc/ldap/schema/nis.ldif

        include: file:///etc/ldap/schema/inetorgperson.ldif

        dn: olcDatabase={0}config,cn=config
        objectClass: olcDatabaseConfig
        olcDatabase: {0}config
        olcAccess: {0}to * by dn.exact=gidNumber=\(getgid())+uidNumber=\(getuid()),cn=peercred,cn=external,cn=auth manage by * none

        dn: olcDatabase={1}mdb,cn=config
        objectClass: olcDatabaseConfig
        objectClass: olcMdbConfig
        olcDatabase: {1}mdb
        olcSuffix: dc=tollgate
        olcDbDirectory: \(slapd.layout.databaseDirectory.path)

        """
        for d in [slapd.layout.configDirectory, slapd.layout.databaseDirectory, slapd.layout.runDirectory, slapd.layout.logDirectory] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        }
        let file = URL(fileURLWithPath: dir).appendingPathComponent("config.ldif")
        try config.write(to: file, atomically: true, encoding: .utf8)
        let added = try await run("/usr/sbin/slapadd", ["-n0", "-F", slapd.layout.configDirectory.path, "-l", file.path])
        #expect(added.status == 0, "\(added.output)")
        try await slapd.start()
        startedPidFiles.append(slapd.layout.pidFile.path)
        defer { Task { try? await slapd.stop() } }

        let load = try await run("/usr/bin/ldapadd", ["-Q", "-Y", "EXTERNAL", "-H", slapd.ldapiURL, "-f", resources.schemaLDIF.path])
        #expect(load.status == 0, "ldapadd of the schema failed: \(load.output)")
        let search = try await run("/usr/bin/ldapsearch", ["-Q", "-LLL", "-o", "ldif-wrap=no", "-Y", "EXTERNAL", "-H", slapd.ldapiURL,
                                                           "-b", "cn=schema,cn=config", "(cn={*}tollgate)", "olcObjectClasses"])
        #expect(search.status == 0)
        for name in ["tgSubscriber", "tgConverter", "tgDestination", "tgHistoryEvent", "tgTrafficSample", "tgReport", "tgServer", "tgApplication"] {
            #expect(search.output.contains("NAME '\(name)'"), "object class \(name) missing from the loaded schema")
        }
    }

    @Test("base, ACL and example LDIF load with ldapadd; ldapsearch returns the demo entries")
    func ldifLoadsWithLdapadd() async throws {
        let slapd = ManagedSlapd(dataDirectory: temporaryDirectory("ldif"), ldapPort: freePort())
        try await slapd.initialize(resources: resources, populate: false)
        try await slapd.start()
        startedPidFiles.append(slapd.layout.pidFile.path)
        defer { Task { try? await slapd.stop() } }
        for file in [resources.baseLDIF, resources.aclLDIF, resources.exampleLDIF] {
            let result = try await run("/usr/bin/ldapadd", ["-Q", "-Y", "EXTERNAL", "-H", slapd.ldapiURL, "-f", file.path])
            #expect(result.status == 0, "ldapadd -f \(file.lastPathComponent): \(result.output)")
        }
        // As the demo subscriber, over TCP, with its published demo signature.
        let own = try await run("/usr/bin/ldapsearch", ["-LLL", "-x", "-H", slapd.ldapURL,
            "-D", "tgOrgNumber=1001,ou=subscribers,dc=tollgate", "-w", "demo-signature-1001",
            "-b", "tgOrgNumber=1001,ou=subscribers,dc=tollgate", "(objectClass=tgDestination)", "tgNetwork", "tgPortRange"])
        #expect(own.status == 0, "\(own.output)")
        #expect(own.output.contains("tgNetwork: 10.20.0.0/16"))
        #expect(own.output.contains("tgPortRange: 443"))
        #expect(own.output.contains("tgNetwork: 10.30.1.5/32"))
        let converters = try await run("/usr/bin/ldapsearch", ["-Q", "-LLL", "-Y", "EXTERNAL", "-H", slapd.ldapiURL,
            "-b", "dc=tollgate", "(objectClass=tgConverter)", "cn"])
        let names = converters.output.split(separator: "\n").filter { $0.hasPrefix("cn: ") }.map { String($0.dropFirst(4)) }.sorted()
        #expect(names == ["conv-a", "conv-b", "conv-c"])
    }

    @Test("tollgate.schema and tollgate.ldif define the same attribute types and object classes")
    func schemaFormsAgree() throws {
        func definitions(_ text: String, keyword: String) -> Set<String> {
            // Join continuation lines, drop comments, keep what follows the keyword.
            var joined: [String] = []
            for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                if line.hasPrefix("#") { continue }
                if (line.hasPrefix(" ") || line.hasPrefix("\t")), !joined.isEmpty { joined[joined.count - 1] += " " + line.trimmingCharacters(in: .whitespaces) }
                else { joined.append(line) }
            }
            return Set(joined.filter { $0.lowercased().hasPrefix(keyword.lowercased()) }
                .map { $0.dropFirst(keyword.count).trimmingCharacters(in: .whitespaces).split(whereSeparator: \.isWhitespace).joined(separator: " ") })
        }
        let schema = try String(contentsOf: repositoryRoot.appendingPathComponent("schema/tollgate.schema"), encoding: .utf8)
        let ldif = try String(contentsOf: resources.schemaLDIF, encoding: .utf8)
        let schemaAttributes = definitions(schema, keyword: "attributetype")
        let ldifAttributes = definitions(ldif, keyword: "olcAttributeTypes:")
        #expect(schemaAttributes.count >= 40)
        #expect(schemaAttributes == ldifAttributes)
        #expect(definitions(schema, keyword: "objectclass") == definitions(ldif, keyword: "olcObjectClasses:"))
        // Every OID sits under the one 2.25 arc.
        for definition in schemaAttributes {
            #expect(definition.hasPrefix("( 2.25.281291083995307130527836655381809361975.1."))
        }
    }
}
