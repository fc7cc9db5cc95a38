import Foundation

/// The mails sent when a subscription request is decided: approved (with the credentials
/// and next steps) or rejected (with the reason). Text and HTML bodies say the same.
public enum VerdictMail {
    /// "Your subscription is approved": the subscriber ID, the credentials (e.g. the EST
    /// signature) and the numbered next steps.
    public static func approved(from: String, to: [String], organisation: String, subscriberID: String,
                                credentials: [(label: String, value: String)], nextSteps: [String]) -> MailMessage {
        let subject = "Tollgate subscription approved: \(organisation)"
        var text = "Your Tollgate subscription for \(organisation) is approved.\n\nSubscriber ID: \(subscriberID)\n"
        for credential in credentials { text += "\(credential.label): \(credential.value)\n" }
        text += "\nKeep these credentials secret.\n\nNext steps:\n"
        for (index, step) in nextSteps.enumerated() { text += "\(index + 1). \(step)\n" }
        var html = "<p>Your Tollgate subscription for <b>\(HTML.escape(organisation))</b> is approved.</p>\n<table>\n"
        html += "<tr><th align=\"left\">Subscriber ID</th><td><code>\(HTML.escape(subscriberID))</code></td></tr>\n"
        for credential in credentials {
            html += "<tr><th align=\"left\">\(HTML.escape(credential.label))</th><td><code>\(HTML.escape(credential.value))</code></td></tr>\n"
        }
        html += "</table>\n<p>Keep these credentials secret.</p>\n<p>Next steps:</p>\n<ol>\n"
        for step in nextSteps { html += "<li>\(HTML.escape(step))</li>\n" }
        html += "</ol>\n"
        return MailMessage(from: from, to: to, subject: subject, text: text, html: html)
    }

    /// "Your subscription is rejected" with the reviewer's reason.
    public static func rejected(from: String, to: [String], organisation: String, reason: String) -> MailMessage {
        let subject = "Tollgate subscription rejected: \(organisation)"
        let text = "Your Tollgate subscription request for \(organisation) was rejected.\n\nReason: \(reason)\n\n"
            + "You may correct the request and submit it again.\n"
        let html = "<p>Your Tollgate subscription request for <b>\(HTML.escape(organisation))</b> was rejected.</p>\n"
            + "<p>Reason: \(HTML.escape(reason))</p>\n<p>You may correct the request and submit it again.</p>\n"
        return MailMessage(from: from, to: to, subject: subject, text: text, html: html)
    }
}
