import Foundation

/// Why a CRL could not be produced.
public enum CRLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A serial number is not hex of at most 20 bytes.
    case invalidSerial(String)
    /// `nextUpdate` is not after `thisUpdate`.
    case nextUpdateNotAfterThisUpdate(thisUpdate: Date, nextUpdate: Date)
    /// Encoding or signing failed.
    case encodingFailed(reason: String)

    public var description: String {
        switch self {
        case .invalidSerial(let serial):
            return "'\(serial)' is not a certificate serial number: give it in hex as shown by `openssl x509 -serial`."
        case .nextUpdateNotAfterThisUpdate(let thisUpdate, let nextUpdate):
            return "The CRL's nextUpdate (\(nextUpdate)) must be after thisUpdate (\(thisUpdate)): configure a positive CRL lifetime."
        case .encodingFailed(let reason):
            return "Encoding the CRL failed (\(reason)): this is a bug, please report it."
        }
    }
}
