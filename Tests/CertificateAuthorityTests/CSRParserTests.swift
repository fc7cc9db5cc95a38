import CertificateAuthority
import Foundation
import Testing
import X509

@Suite("CSR parsing")
struct CSRParserTests {
    @Test func acceptsDERPEMAndBase64() throws {
        let request = try makeECDSACSR()
        let base64 = Data(request.der).base64EncodedString()
        let wrapped = Data(request.der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        let pem = "-----BEGIN CERTIFICATE REQUEST-----\n\(wrapped)\n-----END CERTIFICATE REQUEST-----\n"
        let unpadded = base64.replacingOccurrences(of: "=", with: "")
        for input in [request.der, Array(base64.utf8), Array(wrapped.utf8), Array(pem.utf8), Array(unpadded.utf8)] {
            #expect(try CSRParser.parse(input) == request.csr)
        }
    }

    @Test func rejectsMalformed() {
        #expect(throws: CSRError.self) { _ = try CSRParser.parse("AAAA") }
        do {
            _ = try CSRParser.parse("AAAA")
        } catch {
            guard case .malformed = error else {
                Issue.record("expected .malformed, got \(error)")
                return
            }
        }
    }

    @Test func rejectsTruncated() throws {
        let request = try makeECDSACSR()
        let truncated = Array(request.der.dropLast(10))
        for input in [truncated, Array(Data(truncated).base64EncodedString().utf8)] {
            do {
                _ = try CSRParser.parse(input)
                Issue.record("truncated CSR accepted")
            } catch {
                guard case .malformed = error else {
                    Issue.record("expected .malformed, got \(error)")
                    continue
                }
            }
        }
    }

    @Test func rejectsTamperedSignature() throws {
        var der = try makeECDSACSR().der
        // The last byte belongs to the ECDSA signature's `s` integer.
        der[der.count - 1] ^= 0x01
        #expect(throws: CSRError.badSignature) { _ = try CSRParser.parse(der) }
    }

    @Test func rejectsTamperedSubject() throws {
        let request = try makeECDSACSR(commonName: "evil")
        var der = request.der
        // Change the subject's "evil" to "evim": still well-formed, but the signature no longer matches.
        let index = try #require(Array(0..<(der.count - 4)).first { der[$0..<($0 + 4)] == Array("evil".utf8)[...] })
        der[index + 3] = UInt8(ascii: "m")
        #expect(throws: CSRError.badSignature) { _ = try CSRParser.parse(der) }
    }

    @Test func rejectsOversized() {
        let input = [UInt8](repeating: UInt8(ascii: "A"), count: CSRParser.maximumSize + 1)
        #expect(throws: CSRError.tooLarge(size: CSRParser.maximumSize + 1, limit: CSRParser.maximumSize)) {
            _ = try CSRParser.parse(input)
        }
    }

    @Test func rejectsNonBase64AndEmpty() {
        #expect(throws: CSRError.notBase64) { _ = try CSRParser.parse("this is not base64!") }
        #expect(throws: CSRError.empty) { _ = try CSRParser.parse(" \n") }
        #expect(throws: CSRError.empty) { _ = try CSRParser.parse([UInt8]()) }
    }

    @Test func rejectsOtherPEMTypes() throws {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        #expect(throws: CSRError.wrongPEMType(label: "PRIVATE KEY")) { _ = try CSRParser.parse(pem) }
    }

    @Test func rejectsSmallRSAKey() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let pem = try makeOpenSSLCSR(in: scratch, newkey: ["-newkey", "rsa:1024"])
        #expect(throws: CSRError.unsupportedKey(reason: "RSA-1024")) { _ = try CSRParser.parse(pem) }
    }

    @Test func rejectsUnsupportedCurve() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let pem = try makeOpenSSLCSR(in: scratch, newkey: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"])
        #expect(throws: CSRError.unsupportedKey(reason: "EC curve 1.3.132.0.10")) { _ = try CSRParser.parse(pem) }
    }

    @Test func errorMessagesSayWhatToDo() {
        let errors: [CSRError] = [
            .empty, .tooLarge(size: 20000, limit: 16384), .notBase64, .wrongPEMType(label: "X"),
            .malformed(reason: "r"), .unsupportedKey(reason: "k"), .badSignature,
        ]
        for error in errors {
            #expect(error.description.contains(": "))
            #expect(error.description.count > 40)
        }
    }
}
