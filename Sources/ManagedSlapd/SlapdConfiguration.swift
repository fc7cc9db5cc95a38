import Foundation

/// The cn=config of a managed Tollgate slapd, as LDIF for `slapadd -n0`.
///
/// One mdb database for `dc=tollgate` with the syncprov (for replicas and the access
/// service's content synchronisation) and ppolicy (subscriber lockout, hashing of
/// cleartext passwords) overlays; Tollgate's schema on top of Debian's core, cosine, nis
/// and inetorgperson. SASL EXTERNAL binds over ldapi:// by root or by the instance owner
/// are mapped to Tollgate's service account. The data ACLs start closed (service
/// account only) and are replaced by `ldif/acl.ldif` during `init`.
///
/// syncprov runs **without** `olcSpCheckpoint` (slapd's default): in slapd 2.5 a checkpoint
/// writes the contextCSN from inside another write's result callback while holding
/// syncprov's response mutex, and an RFC 5805 transaction's end holds the database's write
/// lock while it needs that mutex for its own writes' results, so the two deadlock and
/// every later write and bind queues behind them (``ManagedSlapd/removeSyncprovCheckpoint(logger:)``,
/// docs/ldap-client.md). slapd still saves the contextCSN on a clean stop and recomputes it
/// from the entries after a crash.
///
/// The data database has a root DN without entry or password, so nobody can bind as it:
/// slapo-ppolicy (2.5) writes a subscriber's lockout (`pwdAccountLockedTime`) as the root
/// DN, and without one that write runs as anonymous and the ACLs refuse it.
public struct SlapdConfiguration: Sendable {
    public var layout: InstanceLayout
    public var schemaLDIF: URL
    /// The uid and gid whose EXTERNAL binds act as the service account.
    public var ownerUID: UInt32
    public var ownerGID: UInt32

    public static let suffix = "dc=tollgate"
    public static let serviceDN = "cn=tollgate,ou=services,dc=tollgate"

    public init(layout: InstanceLayout, schemaLDIF: URL, ownerUID: UInt32 = getuid(), ownerGID: UInt32 = getgid()) {
        self.layout = layout
        self.schemaLDIF = schemaLDIF
        self.ownerUID = ownerUID
        self.ownerGID = ownerGID
    }

    /// The LDIF text.
    public var ldif: String {
        var peers = ["gidNumber=0\\+uidNumber=0"]
        if ownerUID != 0 || ownerGID != 0 { peers.append("gidNumber=\(ownerGID)\\+uidNumber=\(ownerUID)") }
        let authz = peers.enumerated().map { index, peer in
            "olcAuthzRegexp: {\(index)}\"^\(peer),cn=peercred,cn=external,cn=auth$\" \"\(Self.serviceDN)\""
        }.joined(separator: "\n")
        let configAccess = peers.map { peer in
            "  by dn.exact=\"\(peer.replacingOccurrences(of: "\\+", with: "+")),cn=peercred,cn=external,cn=auth\" manage"
        }.joined(separator: "\n")
        return """
        # cn=config of a Tollgate-managed slapd, written by `tollgate directory init`.
        dn: cn=config
        objectClass: olcGlobal
        cn: config
        olcPidFile: \(layout.pidFile.path)
        olcArgsFile: \(layout.runDirectory.appendingPathComponent("slapd.args").path)
        olcLogLevel: none
        olcLogFile: \(layout.logFile.path)
        olcToolThreads: 2
        \(authz)

        dn: cn=module{0},cn=config
        objectClass: olcModuleList
        cn: module{0}
        olcModulePath: /usr/lib/ldap
        olcModuleLoad: {0}back_mdb
        olcModuleLoad: {1}syncprov
        olcModuleLoad: {2}ppolicy
        olcModuleLoad: {3}pw-sha2

        dn: cn=schema,cn=config
        objectClass: olcSchemaConfig
        cn: schema

        include: file:///etc/ldap/schema/core.ldif

        include: file:///etc/ldap/schema/cosine.ldif

        include: file:///etc/ldap/schema/nis.ldif

        include: file:///etc/ldap/schema/inetorgperson.ldif

        include: file://\(schemaLDIF.path)

        dn: olcDatabase={-1}frontend,cn=config
        objectClass: olcDatabaseConfig
        objectClass: olcFrontendConfig
        olcDatabase: {-1}frontend
        olcPasswordHash: {SSHA512}
        olcSizeLimit: 500

        dn: olcDatabase={0}config,cn=config
        objectClass: olcDatabaseConfig
        olcDatabase: {0}config
        olcAccess: {0}to *
        \(configAccess)
          by dn.exact="\(Self.serviceDN)" sockurl.regex="^ldapi://" manage
          by * none

        dn: olcDatabase={1}mdb,cn=config
        objectClass: olcDatabaseConfig
        objectClass: olcMdbConfig
        olcDatabase: {1}mdb
        olcSuffix: \(Self.suffix)
        olcRootDN: cn=ppolicy,cn=internal,\(Self.suffix)
        olcDbDirectory: \(layout.databaseDirectory.path)
        olcDbMaxSize: 10737418240
        olcDbIndex: objectClass eq
        olcDbIndex: entryCSN,entryUUID eq
        olcDbIndex: cn eq,sub
        olcDbIndex: mail eq
        olcDbIndex: tgOrgNumber eq
        olcDbIndex: tgSubscriberId eq
        olcDbIndex: tgConverterId eq
        olcDbIndex: tgApplicationId eq
        olcDbIndex: tgCertificateSerial eq
        olcDbIndex: tgState eq
        olcDbIndex: tgEventType eq
        olcLimits: {0}dn.exact="\(Self.serviceDN)" size=unlimited time=unlimited
        olcAccess: {0}to * by dn.exact="\(Self.serviceDN)" manage by * none

        dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
        objectClass: olcOverlayConfig
        objectClass: olcSyncProvConfig
        olcOverlay: {0}syncprov
        olcSpSessionLog: 10000

        dn: olcOverlay={1}ppolicy,olcDatabase={1}mdb,cn=config
        objectClass: olcOverlayConfig
        objectClass: olcPPolicyConfig
        olcOverlay: {1}ppolicy
        olcPPolicyDefault: cn=default,ou=policies,\(Self.suffix)
        olcPPolicyHashCleartext: TRUE
        olcPPolicyUseLockout: TRUE

        """
    }
}
