import Crypto
import X509

/// Key identifiers per RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents.
enum KeyIdentifier {
    static func of(_ publicKey: Certificate.PublicKey) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: Array(publicKey.subjectPublicKeyInfoBytes)))
    }
}
