import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// File layout and permission-aware I/O for the CA directory (`DIR/pki`).
struct PKIFiles: Sendable {
    static let rootCertificateName = "root-ca.pem"
    static let rootKeyName = "root-ca.key"
    static let issuingCertificateName = "issuing-ca.pem"
    static let issuingKeyName = "issuing-ca.key"
    static let allNames = [rootCertificateName, rootKeyName, issuingCertificateName, issuingKeyName]

    static let directoryMode: mode_t = 0o700
    static let keyMode: mode_t = 0o600
    static let certificateMode: mode_t = 0o644

    let directory: URL

    func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    /// Names of the CA files that exist.
    func existingNames() -> [String] {
        Self.allNames.filter { FileManager.default.fileExists(atPath: path($0)) }
    }

    /// Creates the directory if needed and sets its mode to 0700.
    func prepareDirectory() throws(CertificateAuthorityError) {
        let dir = directory.path
        do {
            try FileManager.default.createDirectory(
                atPath: dir,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: Int(Self.directoryMode)]
            )
        } catch {
            throw .fileSystem(path: dir, reason: "\(error)")
        }
        guard chmod(dir, Self.directoryMode) == 0 else {
            throw .fileSystem(path: dir, reason: String(cString: strerror(errno)))
        }
    }

    /// Writes `contents` to a new file `name` with exactly `mode`; fails if the file exists.
    ///
    /// The data goes to a temporary file first, is flushed to disk, and is then renamed into place.
    func writeNew(_ name: String, contents: String, mode: mode_t) throws(CertificateAuthorityError) {
        let finalPath = path(name)
        let tempPath = finalPath + ".tmp"
        unlink(tempPath)
        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw .fileSystem(path: tempPath, reason: String(cString: strerror(errno)))
        }
        var failure: String?
        if fchmod(fd, mode) != 0 {
            failure = "fchmod: " + String(cString: strerror(errno))
        }
        let bytes = Array(contents.utf8)
        var written = 0
        while failure == nil, written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                failure = "write: " + String(cString: strerror(errno))
            } else {
                written += result
            }
        }
        if failure == nil, fsync(fd) != 0 {
            failure = "fsync: " + String(cString: strerror(errno))
        }
        close(fd)
        if failure == nil, link(tempPath, finalPath) != 0 {
            // link(2) refuses to replace an existing file, unlike rename(2).
            failure = "link: " + String(cString: strerror(errno))
        }
        unlink(tempPath)
        if let failure {
            throw .fileSystem(path: finalPath, reason: failure)
        }
    }

    /// Reads file `name` as UTF-8 text.
    func read(_ name: String) throws(CertificateAuthorityError) -> String {
        let filePath = path(name)
        do {
            return try String(contentsOfFile: filePath, encoding: .utf8)
        } catch {
            throw .fileSystem(path: filePath, reason: "\(error)")
        }
    }

    /// Throws if the private key file `name` is accessible by group or others.
    func checkKeyPermissions(_ name: String) throws(CertificateAuthorityError) {
        let filePath = path(name)
        var info = stat()
        guard stat(filePath, &info) == 0 else {
            throw .fileSystem(path: filePath, reason: String(cString: strerror(errno)))
        }
        let permissions = info.st_mode & 0o777
        guard permissions & 0o077 == 0 else {
            throw .insecureKeyPermissions(path: filePath, mode: UInt16(permissions))
        }
    }
}
