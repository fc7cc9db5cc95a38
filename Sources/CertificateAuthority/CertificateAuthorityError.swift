/// Why the CA could not be created or loaded from its `pki` directory.
public enum CertificateAuthorityError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Some but not all of the four CA files exist.
    case incompleteStore(directory: String, missing: [String])
    /// A file could not be read, written or have its mode set.
    case fileSystem(path: String, reason: String)
    /// A certificate or key file does not parse.
    case unreadableFile(path: String, reason: String)
    /// A private key file is readable by group or others.
    case insecureKeyPermissions(path: String, mode: UInt16)
    /// A private key does not belong to the certificate stored next to it.
    case keyDoesNotMatchCertificate(keyPath: String, certificatePath: String)
    /// The issuing CA certificate is not signed by the root CA stored next to it.
    case issuingNotSignedByRoot(path: String)
    /// Generating or signing a CA certificate failed.
    case generationFailed(reason: String)

    public var description: String {
        switch self {
        case .incompleteStore(let directory, let missing):
            return "The CA directory \(directory) is incomplete (missing \(missing.joined(separator: ", "))): "
                + "restore the missing files from a backup; only if no certificate issued by this CA is in use, "
                + "move the directory aside so that a new CA is created."
        case .fileSystem(let path, let reason):
            return "Cannot access \(path) (\(reason)): check that the directory exists and is owned by the user running tollgate."
        case .unreadableFile(let path, let reason):
            return "\(path) is not a valid PEM file (\(reason)): restore it from a backup."
        case .insecureKeyPermissions(let path, let mode):
            return "The private key \(path) has mode \(String(mode, radix: 8)), readable by other users: "
                + "run `chmod 600 \(path)`, and consider the key compromised if others could read it."
        case .keyDoesNotMatchCertificate(let keyPath, let certificatePath):
            return "The private key \(keyPath) does not match the certificate \(certificatePath): "
                + "restore both files from the same backup."
        case .issuingNotSignedByRoot(let path):
            return "The issuing CA certificate \(path) is not signed by the root CA: "
                + "restore root-ca.* and issuing-ca.* from the same backup."
        case .generationFailed(let reason):
            return "Generating the CA certificates failed (\(reason)): this is a bug, please report it."
        }
    }
}
