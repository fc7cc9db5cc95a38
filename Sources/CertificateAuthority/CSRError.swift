/// Why a certificate signing request (CSR) was rejected.
///
/// Every case's ``description`` tells the client or operator what to do next; the EST server can
/// return it verbatim in a `400 Bad Request` body.
public enum CSRError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request body was empty.
    case empty
    /// The request is larger than ``CSRParser/maximumSize`` bytes.
    case tooLarge(size: Int, limit: Int)
    /// The input is neither DER, PEM nor valid base64.
    case notBase64
    /// The input is PEM, but not a `CERTIFICATE REQUEST` block.
    case wrongPEMType(label: String)
    /// The bytes are not a well-formed DER-encoded PKCS#10 request (truncated, trailing data, wrong structure).
    case malformed(reason: String)
    /// The request's public key is of a type or size Tollgate does not certify.
    case unsupportedKey(reason: String)
    /// The request's self-signature does not verify with its own public key (or uses an unsupported algorithm).
    case badSignature

    public var description: String {
        switch self {
        case .empty:
            return "The certificate signing request is empty: send a PKCS#10 request as base64 DER (EST) or PEM."
        case .tooLarge(let size, let limit):
            return "The certificate signing request is \(size) bytes, more than the \(limit)-byte limit: "
                + "send only the PKCS#10 request, without certificate chains or extra attributes."
        case .notBase64:
            return "The certificate signing request is not DER, PEM or base64: "
                + "send the PKCS#10 request as base64-encoded DER (application/pkcs10) or as PEM."
        case .wrongPEMType(let label):
            return "The PEM block is '\(label)', not 'CERTIFICATE REQUEST': "
                + "send the CSR (e.g. from `pki --req` or `openssl req -new`), not a key or certificate."
        case .malformed(let reason):
            return "The certificate signing request is not a valid DER-encoded PKCS#10 request (\(reason)): "
                + "check that it was not truncated or altered in transit and generate it again."
        case .unsupportedKey(let reason):
            return "The certificate signing request has an unsupported key (\(reason)): "
                + "use ECDSA P-256/P-384/P-521, Ed25519 or RSA with 2048 to 4096 bits."
        case .badSignature:
            return "The certificate signing request's signature does not verify with its public key: "
                + "the request was altered or signed with another key; generate it again with the key to be certified."
        }
    }
}
