import LDAPClient
import Testing

@Suite("RFC 4515 filter and RFC 4514 DN escaping")
struct EscapingTests {
    @Test("filter values escape *, (, ), \\ and NUL and nothing else")
    func filterEscaping() {
        #expect(LDAPFilter.escape("*)(uid=*") == "\\2a\\29\\28uid=\\2a")
        #expect(LDAPFilter.escape("a\\b") == "a\\5cb")
        #expect(LDAPFilter.escape("nul\u{0}byte") == "nul\\00byte")
        #expect(LDAPFilter.escape("日本語 ü") == "日本語 ü")
        #expect(LDAPFilter.escape(",cn=admin") == ",cn=admin")
    }

    @Test("filters built from parts keep user input inside one assertion")
    func filterBuilding() {
        let filter = LDAPFilter.and([.equal("objectClass", "tgConverter"), .equal("cn", "*)(|(cn=*")])
        #expect(filter.string == "(&(objectClass=tgConverter)(cn=\\2a\\29\\28|\\28cn=\\2a))")
        #expect(LDAPFilter.or([.present("mail"), .not(.equal("tgState", "down"))]).string == "(|(mail=*)(!(tgState=down)))")
        #expect(LDAPFilter.substring("cn", initial: "a*", any: ["("], final: nil).string == "(cn=a\\2a*\\28*)")
        #expect(LDAPFilter.lessOrEqual("tgAddressFrom", "0a").string == "(tgAddressFrom<=0a)")
    }

    @Test("DN values escape specials, leading # and space, trailing space, NUL")
    func dnEscaping() {
        #expect(DistinguishedName.escape(",cn=admin") == "\\,cn\\=admin")
        #expect(DistinguishedName.escape("a+b;c<d>e\"f\\g") == "a\\+b\\;c\\<d\\>e\\\"f\\\\g")
        #expect(DistinguishedName.escape("#lead") == "\\#lead")
        #expect(DistinguishedName.escape(" both ") == "\\ both\\ ")
        #expect(DistinguishedName.escape("in#side") == "in#side")
        #expect(DistinguishedName.escape("x\u{0}y") == "x\\00y")
        #expect(DistinguishedName.escape("ü") == "ü")
    }

    @Test("child DNs round-trip their value", arguments: [",cn=admin", "*)(uid=*", "\\00", " x ", "#", "a=b+c", "日本"])
    func childRoundTrip(_ value: String) {
        let dn = DistinguishedName("dc=tollgate").child("cn", value)
        #expect(dn.firstValue == value)
        #expect(dn.string.hasSuffix(",dc=tollgate"))
    }

    @Test("ldapi URLs percent-encode the socket path")
    func ldapiURL() {
        #expect(LDAPConfiguration.ldapiURL(socketPath: "/tmp/x y/ldapi") == "ldapi://%2Ftmp%2Fx%20y%2Fldapi")
    }
}
