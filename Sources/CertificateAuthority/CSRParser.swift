import Foundation
import SwiftASN1
import X509

/// Parses and checks PKCS#10 certificate signing requests as received from clients.
///
/// Accepts raw DER, PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) and base64 of DER with or
/// without line breaks (as EST's `/simpleenroll` sends it). A request is returned only when it is
/// well-formed, carries a supported key (``CSRKeyPolicy``) and its self-signature verifies.
public enum CSRParser {
    /// Largest accepted input, in bytes (16 KiB), before any decoding.
    public static let maximumSize = 16 * 1024

    /// Parses, checks and returns the request in `input`.
    /// - Parameter input: DER, PEM or base64 bytes, at most ``maximumSize`` long.
    /// - Throws: ``CSRError`` naming the first problem found.
    public static func parse(_ input: [UInt8]) throws(CSRError) -> CertificateSigningRequest {
        let der = try derBytes(from: input)
        let rootNode: ASN1Node
        do {
            rootNode = try DER.parse(der)
        } catch {
            throw .malformed(reason: "not DER: \(error)")
        }
        // Classify the key before swift-certificates decodes it, so that e.g. RSA-1024 is reported
        // as an unsupported key rather than as a malformed request.
        try CSRKeyPolicy.checkSubjectPublicKeyInfo(inRequest: rootNode)
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(derEncoded: rootNode)
        } catch {
            throw .malformed(reason: "\(error)")
        }
        try check(csr)
        return csr
    }

    /// Parses a request given as text (PEM or base64).
    public static func parse(_ text: String) throws(CSRError) -> CertificateSigningRequest {
        try parse(Array(text.utf8))
    }

    /// Checks a request that was decoded elsewhere: supported key and valid self-signature.
    public static func check(_ csr: CertificateSigningRequest) throws(CSRError) {
        _ = try CSRKeyPolicy.keyKind(of: csr.publicKey)
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw .badSignature
        }
    }

    /// Turns DER, PEM or base64 input into DER bytes without interpreting them.
    static func derBytes(from input: [UInt8]) throws(CSRError) -> [UInt8] {
        guard input.count <= maximumSize else {
            throw .tooLarge(size: input.count, limit: maximumSize)
        }
        // DER of a SEQUENCE starts with 0x30 ('0' is a valid base64 character too, but no base64
        // CSR starts with '0': DER 0x30 0x82 encodes as "MII...").
        if input.first == 0x30 {
            return input
        }
        guard let text = String(bytes: input, encoding: .utf8) else {
            throw .notBase64
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .empty }
        if trimmed.hasPrefix("-----BEGIN ") {
            return try decodePEM(trimmed)
        }
        return try decodeBase64(trimmed)
    }

    private static func decodePEM(_ text: String) throws(CSRError) -> [UInt8] {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = lines.first, first.hasPrefix("-----BEGIN "), first.hasSuffix("-----") else {
            throw .notBase64
        }
        let label = String(first.dropFirst("-----BEGIN ".count).dropLast("-----".count))
        guard label == "CERTIFICATE REQUEST" || label == "NEW CERTIFICATE REQUEST" else {
            throw .wrongPEMType(label: label)
        }
        guard let endIndex = lines.firstIndex(of: "-----END \(label)-----") else {
            throw .malformed(reason: "PEM block has no matching END line")
        }
        return try decodeBase64(lines[1..<endIndex].joined())
    }

    private static func decodeBase64(_ text: String) throws(CSRError) -> [UInt8] {
        var compact = text.filter { !$0.isWhitespace }
        // Some clients drop the '=' padding; restore it.
        let remainder = compact.utf8.count % 4
        if remainder == 2 || remainder == 3 {
            compact += String(repeating: "=", count: 4 - remainder)
        }
        guard !compact.isEmpty, let data = Data(base64Encoded: compact) else {
            throw .notBase64
        }
        return Array(data)
    }
}
