import Foundation
import LDAPClient
import Testing

@Suite("LDIF parser")
struct LDIFParserTests {
    @Test("content records, folding, comments and base64")
    func content() throws {
        let text = """
        version: 1
        # a comment
        dn: cn=a,dc=x
        objectClass: top
        objectClass: device
        description: folded
          value
        cn:: w7w=

        dn: cn=b,dc=x
        cn: b
        """
        let records = try LDIFParser.parse(text)
        #expect(records.count == 2)
        guard case .add(let dn, let attributes) = records[0] else { Issue.record("not an add"); return }
        #expect(dn == "cn=a,dc=x")
        #expect(attributes.first { $0.0 == "objectClass" }?.1.count == 2)
        #expect(attributes.first { $0.0 == "description" }?.1 == [Data("folded value".utf8)])
        #expect(attributes.first { $0.0 == "cn" }?.1 == [Data("ü".utf8)])
    }

    @Test("change records: modify with add/replace/delete, delete")
    func changes() throws {
        let records = try LDIFParser.parse("""
        dn: olcDatabase={1}mdb,cn=config
        changetype: modify
        replace: olcAccess
        olcAccess: {0}to * by * none
        -
        delete: olcDbIndex
        -

        dn: cn=gone,dc=x
        changetype: delete
        """)
        #expect(records == [
            .modify("olcDatabase={1}mdb,cn=config", [LDAPModification(.replace, "olcAccess", [Data("{0}to * by * none".utf8)]),
                                                     LDAPModification(.delete, "olcDbIndex", [])]),
            .delete("cn=gone,dc=x"),
        ])
    }

    @Test("malformed LDIF names the line", arguments: [
        ("cn: no dn first\n", 1, "must start"),
        ("dn: cn=a\nno colon here\n", 2, "expected"),
        ("dn: cn=a\ncn:: !!notbase64\n", 2, "base64"),
        ("dn: cn=a\nchangetype: modrdn\nnewrdn: cn=b\n", 1, "not supported"),
        ("dn: cn=a\nchangetype: modify\nadd: cn\ndescription: x\n", 4, "inside"),
        ("dn: cn=a\njpegPhoto:< file:///etc/passwd\n", 2, "URL values"),
    ])
    func malformed(_ text: String, _ line: Int, _ words: String) {
        #expect {
            _ = try LDIFParser.parse(text)
        } throws: { error in
            guard let error = error as? LDIFError else { return false }
            return error.line == line && error.message.contains(words)
        }
    }

    @Test("the shipped LDIF files parse")
    func shippedFiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["ldif/base.ldif", "ldif/acl.ldif", "ldif/example.ldif", "schema/tollgate.ldif"] {
            let records = try LDIFParser.parse(try String(contentsOf: root.appendingPathComponent(name), encoding: .utf8))
            #expect(!records.isEmpty, "\(name)")
        }
    }
}
