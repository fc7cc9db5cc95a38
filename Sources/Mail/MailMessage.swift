import Foundation

/// One mail: sender, recipients, subject, a text body and an optional HTML body.
///
/// ``rfc5322()`` renders it as RFC 5322 / MIME bytes with CRLF line endings: `Date`,
/// `Message-ID`, `MIME-Version`, UTF-8 quoted-printable bodies (`multipart/alternative` when
/// there is an HTML body) and an RFC 2047 encoded-word subject when it is not ASCII.
/// Header injection is impossible: values with CR or LF are refused with
/// ``MailError/headerInjection(header:)``.
public struct MailMessage: Sendable, Equatable {
    public var from: String
    public var to: [String]
    public var subject: String
    public var text: String
    public var html: String?
    /// Defaults to a fresh `<uuid@sender-domain>`.
    public var messageID: String
    public var date: Date

    public init(from: String, to: [String], subject: String, text: String, html: String? = nil,
                messageID: String? = nil, date: Date = Date()) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        let domain = from.split(separator: "@").last.map(String.init) ?? "localhost"
        self.messageID = messageID ?? "<\(UUID().uuidString.lowercased())@\(domain)>"
        self.date = date
    }

    /// Throws when an address is malformed, there is no recipient or a header has a line break.
    public func validate() throws(MailError) {
        try MailAddress.validate(from)
        guard !to.isEmpty else { throw .noRecipients }
        for address in to { try MailAddress.validate(address) }
        for (name, value) in [("Subject", subject), ("Message-ID", messageID)] where value.contains(where: \.isNewline) {
            throw .headerInjection(header: name)
        }
    }

    /// The message as RFC 5322 bytes (CRLF line endings), ready for SMTP DATA or an `.eml` file.
    public func rfc5322() throws(MailError) -> Data {
        try validate()
        var lines: [String] = [
            "Date: \(Self.rfc5322Date(date))",
            "From: \(from)",
            "To: \(to.joined(separator: ",\r\n "))",
            "Subject: \(MIMEEncoding.encodedWordHeader(subject))",
            "Message-ID: \(messageID)",
            "MIME-Version: 1.0",
        ]
        if let html {
            let boundary = "=_tollgate_\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
            lines.append("Content-Type: multipart/alternative; boundary=\"\(boundary)\"")
            lines.append("")
            lines.append("This is a MIME message with text and HTML parts.")
            for (type, body) in [("text/plain", text), ("text/html", html)] {
                lines.append("--\(boundary)")
                lines.append("Content-Type: \(type); charset=utf-8")
                lines.append("Content-Transfer-Encoding: quoted-printable")
                lines.append("")
                lines.append(MIMEEncoding.quotedPrintable(body))
            }
            lines.append("--\(boundary)--")
        } else {
            lines.append("Content-Type: text/plain; charset=utf-8")
            lines.append("Content-Transfer-Encoding: quoted-printable")
            lines.append("")
            lines.append(MIMEEncoding.quotedPrintable(text))
        }
        return Data((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}

/// Checks for plain `local@domain` mailboxes.
enum MailAddress {
    static func validate(_ address: String) throws(MailError) {
        if address.contains(where: \.isNewline) { throw .headerInjection(header: "address") }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
              address.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 && !"<>(),;:\"[]\\".unicodeScalars.contains($0) })
        else { throw .invalidAddress(address) }
    }
}
