/// Why a certs-only PKCS#7 (CMS) structure could not be encoded or decoded.
public enum PKCS7Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// Encoding failed.
    case encodingFailed(reason: String)
    /// The bytes are not a DER certs-only SignedData.
    case malformed(reason: String)

    public var description: String {
        switch self {
        case .encodingFailed(let reason):
            return "Encoding the PKCS#7 certificate bundle failed (\(reason)): this is a bug, please report it."
        case .malformed(let reason):
            return "The data is not a certs-only PKCS#7 bundle (\(reason)): fetch it again from the EST server's /cacerts."
        }
    }
}
