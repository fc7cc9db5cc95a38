/// Why a certificate could not be issued.
public enum IssuanceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The CSR was rejected.
    case csr(CSRError)
    /// The common name is empty or longer than 64 characters.
    case invalidCommonName(String)
    /// A DNS name is empty, too long or contains characters not allowed in host names.
    case invalidDNSName(String)
    /// An IP address is not a valid IPv4 or IPv6 address.
    case invalidIPAddress(String)
    /// A CRL distribution point is not an absolute URI.
    case invalidCRLDistributionPoint(String)
    /// Validity is not positive, or the issuing CA expires before the certificate would start.
    case invalidValidity(reason: String)
    /// A certificate to be re-issued was not issued by this CA.
    case notIssuedByThisCA(serialHex: String)
    /// Encoding or signing failed.
    case signingFailed(reason: String)

    public var description: String {
        switch self {
        case .csr(let error):
            return error.description
        case .invalidCommonName(let name):
            return "The common name '\(name)' must be 1 to 64 characters: fix the converter's name in the directory."
        case .invalidDNSName(let name):
            return "'\(name)' is not a valid DNS name: fix the converter's DNS names in the directory."
        case .invalidIPAddress(let address):
            return "'\(address)' is not a valid IPv4 or IPv6 address: fix the converter's addresses in the directory."
        case .invalidCRLDistributionPoint(let uri):
            return "The CRL distribution point '\(uri)' is not an absolute URI: fix the CRL URL settings."
        case .invalidValidity(let reason):
            return "Invalid certificate validity (\(reason)): configure a positive validity and renew the issuing CA if expired."
        case .notIssuedByThisCA(let serialHex):
            return "Certificate \(serialHex) was not issued by this CA, so it cannot be re-issued: enrol the converter anew."
        case .signingFailed(let reason):
            return "Signing the certificate failed (\(reason)): this is a bug, please report it."
        }
    }
}
